namespace Xent.Kernels;

/// <summary>A fixed-order pairwise sum of per-block partials: the same bits whatever thread computed which block.</summary>
internal static class PairwiseSum
{
    public static double Sum(ReadOnlySpan<double> values)
    {
        if (values.Length <= 8)
        {
            double s = 0;
            foreach (double v in values)
            {
                s += v;
            }

            return s;
        }

        int half = values.Length / 2;
        return Sum(values[..half]) + Sum(values[half..]);
    }
}
