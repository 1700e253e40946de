namespace Xent;

/// <summary>The options of <see cref="Functional.LinearCrossEntropy{T, TTarget}"/>: the cross-entropy's own
/// (reduction, ignore index, label smoothing, class weights) and the additions of large-vocabulary training — z-loss
/// (PaLM), logit soft-capping (Gemma 2) and next-token shifting.</summary>
/// <remarks>An instance is immutable and may be shared between calls and threads.</remarks>
public sealed record LinearCrossEntropyOptions
{
    /// <summary>The defaults: mean reduction, ignore index −100, no smoothing, weights, z-loss, cap or shift.</summary>
    public static LinearCrossEntropyOptions Default { get; } = new();

    /// <summary>Gets the reduction of the returned loss and of the gradients: <see cref="Reduction.Mean"/> (default)
    /// or <see cref="Reduction.Sum"/>. Per-row losses are available through
    /// <see cref="LinearCrossEntropyOutputs.Loss"/> whatever the reduction.</summary>
    public Reduction Reduction { get; init; } = Reduction.Mean;

    /// <summary>Gets the target value that contributes nothing (default −100, PyTorch's). An ignored row is skipped
    /// entirely: it costs no arithmetic and its hidden state is never read.</summary>
    public long IgnoreIndex { get; init; } = -100;

    /// <summary>Gets the label smoothing ε in [0, 1]: the target becomes (1 − ε)·onehot + ε/V, as PyTorch's
    /// <c>label_smoothing</c>.</summary>
    public float LabelSmoothing { get; init; }

    /// <summary>Gets the class weights: empty (default) or one per vocabulary entry, as PyTorch's <c>weight</c>. A row's
    /// cross-entropy is scaled by the weight of its target (and the smoothing term by all weights), and the mean
    /// divides by the sum of the weights of the non-ignored targets.</summary>
    public ReadOnlyMemory<float> ClassWeight { get; init; }

    /// <summary>Gets the z-loss scale s ≥ 0 (default 0, off): s·lse² is added to the loss of every non-ignored row,
    /// lse being the row's log-sum-exp, as PaLM's auxiliary loss and Liger's <c>lse_square_scale</c>. It is not
    /// class-weighted, and under <see cref="Reduction.Mean"/> its sum is divided by the number of non-ignored rows.</summary>
    public float ZLossScale { get; init; }

    /// <summary>Gets the logit soft cap c ≥ 0 (default 0, off): the logits z become c·tanh(z / c) before the softmax,
    /// as Gemma 2's <c>final_logit_softcapping</c>; gradients flow through the tanh.</summary>
    public float SoftCap { get; init; }

    /// <summary>Gets whether row i is scored against target i + 1 (next-token prediction) instead of target i, without
    /// copying anything. The last row of each sequence has no target and counts as ignored.</summary>
    public bool Shift { get; init; }

    /// <summary>Gets the sequence length S when the N rows are N / S sequences laid end to end (0, the default: one
    /// sequence of N rows). Only used with <see cref="Shift"/>, so that no row predicts the first token of the next
    /// sequence.</summary>
    public int SequenceLength { get; init; }

    /// <summary>Gets whether to skip the gradient products of vocabulary blocks whose every softmax probability in a
    /// chunk of rows is below 2⁻²⁴ (float epsilon, relative to 1), as Cut Cross-Entropy's gradient filtering does.
    /// Off by default: it changes the gradients (by less than 2⁻²⁴ per skipped probability) and the loss not at all;
    /// with peaked distributions over large vocabularies it removes much of the backward arithmetic.</summary>
    public bool FilterGradients { get; init; }

    /// <summary>Gets the rows per chunk (0, the default: chosen from the shapes). The chunk's logits block of
    /// rows × vocabulary floats is the call's only large buffer; the default keeps it at most 1/32 of the full logits
    /// and at most 256 rows.</summary>
    public int ChunkRows { get; init; }

    /// <summary>Gets the instruction set of the GEMM tiles and the row kernel (null: the best supported) — for tests,
    /// which must run the 256-bit and scalar paths on a machine that has AVX-512.</summary>
    internal Kernels.GemmIsa? Isa { get; init; }
}
