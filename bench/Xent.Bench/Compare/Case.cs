namespace Xent.Bench.Compare;

/// <summary>One problem of the comparison table, run forward and forward+backward, with the goals issue #3 sets for it.</summary>
/// <param name="Nll">NLL on the logits (as log-probabilities) instead of cross-entropy.</param>
/// <param name="Batch">N: the rows of a 2-D input, the batch of a K-dim one.</param>
/// <param name="Classes">C.</param>
/// <param name="Spatial">d1…dK of a K-dim input (N, C, d1, …, dK); empty for (N, C).</param>
/// <param name="ForwardGoal">Forward goal: Xent at most this many times <b>half the copy time</b> (one read of the
/// logits); null where the issue sets none.</param>
/// <param name="BackwardGoal">Forward+backward goal: at most this many times <b>the copy time</b>; null where none.</param>
/// <param name="SpeedupGoal">Forward+backward goal: libtorch at least this many times slower; null where none.</param>
internal sealed record Case(
    bool Nll,
    int Batch,
    int Classes,
    Dtype Dtype = Dtype.Float32,
    int[]? Spatial = null,
    bool Weighted = false,
    float LabelSmoothing = 0f,
    double? ForwardGoal = null,
    double? BackwardGoal = null,
    double? SpeedupGoal = null)
{
    public int[] SpatialShape => Spatial ?? [];

    public string Name
    {
        get
        {
            string shape = Spatial is { Length: > 0 }
                ? $"({Batch},{Classes},{string.Join(',', Spatial)})"
                : $"{Batch}x{Classes}";
            string name = $"{(Nll ? "NLL" : "CE")} {Dtype.Name()} {shape}";
            if (Weighted)
            {
                name += " w";
            }

            if (LabelSmoothing != 0f)
            {
                name += $" ls={LabelSmoothing:0.##}";
            }

            return name;
        }
    }

    public Problem CreateProblem() => Problem.Create(Batch, Classes, SpatialShape, Weighted, Dtype);

    /// <summary>
    /// Every row of issue #3's table. Goals: 4096 x 32000 forward ≤ 1.5 × half the copy, forward+backward ≤ 1.5 × the
    /// copy and ≥ 20 × libtorch; with label smoothing 0.1 or class weights ≤ 1.6 × the copy; 16384 x 1000, 64 x 256000
    /// and the (8, 21, 512, 512) segmentation layout ≤ 2 × the copy; fp16 and bf16 the same ratios against the copy of
    /// their own bytes. NLL has no goal in the issue; it is here to be seen.
    /// </summary>
    public static IReadOnlyList<Case> Full { get; } = Table(lm: 4096, imagenet: 16384, huge: 64, segBatch: 8, seg: 512);

    /// <summary>The same rows at about an eighth of the bytes, for a check that runs in seconds. Small buffers may sit
    /// partly in the 32 MiB L3, so the floors and ratios differ from the full run's.</summary>
    public static IReadOnlyList<Case> Quick { get; } = Table(lm: 512, imagenet: 2048, huge: 8, segBatch: 1, seg: 512);

    private static List<Case> Table(int lm, int imagenet, int huge, int segBatch, int seg)
    {
        const int Vocab = 32000;
        int[] image = [seg, seg];
        var cases = new List<Case>
        {
            new(Nll: false, lm, Vocab, ForwardGoal: 1.5, BackwardGoal: 1.5, SpeedupGoal: 20),
            new(Nll: false, lm, Vocab, LabelSmoothing: 0.1f, BackwardGoal: 1.6),
            new(Nll: false, lm, Vocab, Weighted: true, BackwardGoal: 1.6),
            new(Nll: false, imagenet, 1000, BackwardGoal: 2),
            new(Nll: false, huge, 256000, BackwardGoal: 2),
            new(Nll: false, segBatch, 21, Spatial: image, BackwardGoal: 2),
            new(Nll: true, lm, Vocab),
        };

        foreach (var dtype in new[] { Dtype.Float16, Dtype.BFloat16 })
        {
            cases.Add(new(Nll: false, lm, Vocab, dtype, ForwardGoal: 1.5, BackwardGoal: 1.5));
            cases.Add(new(Nll: false, lm, Vocab, dtype, LabelSmoothing: 0.1f, BackwardGoal: 1.6));
            cases.Add(new(Nll: false, lm, Vocab, dtype, Weighted: true, BackwardGoal: 1.6));
            cases.Add(new(Nll: false, imagenet, 1000, dtype, BackwardGoal: 2));
            cases.Add(new(Nll: false, huge, 256000, dtype, BackwardGoal: 2));
            cases.Add(new(Nll: false, segBatch, 21, dtype, Spatial: image, BackwardGoal: 2));
            cases.Add(new(Nll: true, lm, Vocab, dtype));
        }

        return cases;
    }
}
