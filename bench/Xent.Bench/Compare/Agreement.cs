namespace Xent.Bench.Compare;

internal static class Agreement
{
    /// <summary>max |a[i] - b[i]|, NaN if either side has a NaN where the other does not.</summary>
    public static double MaxAbsDiff(float[] a, float[] b)
    {
        int workers = Environment.ProcessorCount;
        var partial = new double[workers];
        Parallel.For(0, workers, k =>
        {
            var (start, length) = Problem.Chunk(a.Length, k, workers);
            double max = 0;
            for (int i = start; i < start + length; i++)
            {
                if (a[i] == b[i])
                {
                    continue; // also equal infinities, whose difference would be NaN
                }

                double d = Math.Abs((double)a[i] - b[i]);
                if (double.IsNaN(d))
                {
                    if (float.IsNaN(a[i]) && float.IsNaN(b[i]))
                    {
                        continue;
                    }

                    max = double.NaN;
                    break;
                }

                max = Math.Max(max, d);
            }

            partial[k] = max;
        });

        // Math.Max propagates NaN, so one disagreeing NaN anywhere shows.
        return partial.Aggregate(0.0, Math.Max);
    }
}
