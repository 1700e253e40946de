using System.Numerics;

namespace Xent.Cli.Eval;

/// <summary>
/// The running totals of <c>xent eval</c>, fed one chunk at a time with the library's per-position losses and target
/// ranks. Positions are added in file order and summed in double, so the totals do not depend on the chunk size.
/// </summary>
/// <remarks>
/// The mean is PyTorch's: the per-position losses (already weighted, 0 where ignored) summed, divided by the total
/// weight Σ w[t] of the non-ignored targets (their count without weights). A class's mean loss restricts both sums to
/// the positions whose target is that class. Accuracies count non-ignored positions, unweighted.
/// </remarks>
internal sealed class EvalStats
{
    private readonly double[]? _weight;

    public EvalStats(int classes, double[]? weight)
    {
        _weight = weight;
        Support = new long[classes];
        ClassLossSum = new double[classes];
        ClassWeight = new double[classes];
        ClassCorrect = new long[classes];
    }

    public long Positions { get; private set; }

    public long Ignored { get; private set; }

    public long Evaluated => Positions - Ignored;

    public long Top1 { get; private set; }

    public long Top5 { get; private set; }

    public double LossSum { get; private set; }

    public double TotalWeight { get; private set; }

    public long[] Support { get; }

    public double[] ClassLossSum { get; }

    public double[] ClassWeight { get; }

    public long[] ClassCorrect { get; }

    public LossHistogram Histogram { get; } = new();

    /// <summary>Adds one chunk: its targets, the library's unreduced losses and its target ranks (−1 where ignored).</summary>
    public void Add<TTarget, TC>(ReadOnlySpan<TTarget> target, ReadOnlySpan<TC> loss, ReadOnlySpan<int> rank)
        where TTarget : unmanaged, IBinaryInteger<TTarget>
        where TC : unmanaged, INumberBase<TC>
    {
        for (int p = 0; p < target.Length; p++)
        {
            Positions++;
            if (rank[p] < 0)
            {
                Ignored++;
                continue;
            }

            int t = int.CreateTruncating(target[p]);
            double l = double.CreateTruncating(loss[p]);
            double w = _weight is null ? 1.0 : _weight[t];
            LossSum += l;
            TotalWeight += w;
            Support[t]++;
            ClassLossSum[t] += l;
            ClassWeight[t] += w;
            if (rank[p] == 0)
            {
                Top1++;
                ClassCorrect[t]++;
            }

            if (rank[p] < 5)
            {
                Top5++;
            }

            Histogram.Add(l);
        }
    }

    /// <summary>Σ l / Σ w: NaN when nothing was evaluated (or the weights sum to 0), as PyTorch's mean.</summary>
    public double MeanLoss => LossSum / TotalWeight;

    /// <summary>The <paramref name="count"/> classes with the highest mean loss among those with support, worst first;
    /// a class whose mean is NaN (its weight is 0) comes last, ties go to the lower class index.</summary>
    public IReadOnlyList<ClassRow> WorstClasses(int count)
    {
        var rows = new List<ClassRow>();
        for (int c = 0; c < Support.Length; c++)
        {
            if (Support[c] > 0)
            {
                rows.Add(new ClassRow(c, Support[c], ClassLossSum[c] / ClassWeight[c], (double)ClassCorrect[c] / Support[c]));
            }
        }

        rows.Sort((a, b) =>
        {
            int byNaN = double.IsNaN(a.MeanLoss).CompareTo(double.IsNaN(b.MeanLoss));
            if (byNaN != 0)
            {
                return byNaN;
            }

            int byLoss = b.MeanLoss.CompareTo(a.MeanLoss);
            return byLoss != 0 ? byLoss : a.Class.CompareTo(b.Class);
        });
        return rows.Count > count ? rows.GetRange(0, count) : rows;
    }

    /// <summary>The number of classes that have at least one non-ignored position.</summary>
    public int ClassesWithSupport => Support.Count(s => s > 0);
}

/// <summary>One line of the per-class table.</summary>
internal sealed record ClassRow(int Class, long Support, double MeanLoss, double Accuracy);

/// <summary>
/// A histogram of the per-position losses that needs no range up front: 1024 bins of width 2⁻⁶ to start with; when a
/// loss falls past the last bin, neighbouring bins are merged in pairs and the width doubles, so the bin edges stay
/// exact multiples of the width and no count is ever approximated.
/// </summary>
internal sealed class LossHistogram
{
    public const int Bins = 1024;

    private readonly long[] _counts = new long[Bins];

    /// <summary>The width of one bin; bin i holds losses in [i·width, (i + 1)·width).</summary>
    public double Width { get; private set; } = 1.0 / 64;

    /// <summary>Losses below 0 (possible only with negative weights), not binned.</summary>
    public long Negative { get; private set; }

    /// <summary>NaN or infinite losses, not binned.</summary>
    public long NonFinite { get; private set; }

    /// <summary>The largest binned loss; −∞ while none is binned.</summary>
    public double Max { get; private set; } = double.NegativeInfinity;

    public long Binned { get; private set; }

    public void Add(double loss)
    {
        if (!double.IsFinite(loss))
        {
            NonFinite++;
            return;
        }

        if (loss < 0)
        {
            Negative++;
            return;
        }

        while (loss >= Width * Bins)
        {
            for (int i = 0; i < Bins / 2; i++)
            {
                _counts[i] = _counts[2 * i] + _counts[(2 * i) + 1];
            }

            Array.Clear(_counts, Bins / 2, Bins / 2);
            Width *= 2;
        }

        _counts[(int)(loss / Width)]++;
        Max = Math.Max(Max, loss);
        Binned++;
    }

    /// <summary>At most <paramref name="maxBars"/> bars covering [0, <see cref="Max"/>]: the bins grouped by a whole
    /// factor, so each bar's count is exact. Empty when nothing is binned.</summary>
    public (double BarWidth, long[] Counts) Bars(int maxBars)
    {
        if (Binned == 0)
        {
            return (Width, []);
        }

        int used = (int)(Max / Width) + 1;
        int factor = (used + maxBars - 1) / maxBars;
        var bars = new long[(used + factor - 1) / factor];
        for (int i = 0; i < used; i++)
        {
            bars[i / factor] += _counts[i];
        }

        return (Width * factor, bars);
    }
}
