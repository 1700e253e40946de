namespace Xent.Tests.Linear;

/// <summary>The obviously-correct float64 fused linear cross-entropy: materializes every logit, then applies the
/// definitions term by term. Slow (O(N·V·h) doubles) and only for small shapes.</summary>
internal static class LinearReference
{
    public sealed record Result(double Loss, double ZLoss, double Accuracy, double TotalWeight, long Count,
        double[] GradHidden, double[] GradWeight, double[] GradBias, double[] Lse, double[] RowLoss);

    public static Result Compute(double[] hidden, double[] weight, double[]? bias, int h, long[] target,
        LinearCrossEntropyOptions o)
    {
        int n = hidden.Length / h, v = weight.Length / h;
        double[]? w = o.ClassWeight.IsEmpty ? null : [.. o.ClassWeight.ToArray().Select(x => (double)x)];
        double eps = o.LabelSmoothing, zs = o.ZLossScale, cap = o.SoftCap;
        double wSum = w?.Sum() ?? v;

        // Which target each row is scored against (−1: none).
        var rowTarget = new long[n];
        int seq = o.SequenceLength > 0 ? o.SequenceLength : n;
        for (int r = 0; r < n; r++)
        {
            long t = o.Shift ? ((r + 1) % seq == 0 ? o.IgnoreIndex : target[r + 1]) : target[r];
            rowTarget[r] = t == o.IgnoreIndex ? -1 : t;
        }

        double totalWeight = 0;
        long count = 0;
        foreach (long t in rowTarget)
        {
            if (t < 0) continue;
            count++;
            totalWeight += w?[t] ?? 1;
        }

        bool mean = o.Reduction == Reduction.Mean;
        double g = mean ? 1 / totalWeight : 1;
        double gz = mean ? 1.0 / count : 1;
        var gradHidden = new double[n * h];
        var gradWeight = new double[v * h];
        var gradBias = new double[v];
        var lseOut = Enumerable.Repeat(double.NaN, n).ToArray();
        var rowLoss = new double[n];
        double ceSum = 0, zSum = 0;
        long hits = 0;
        for (int r = 0; r < n; r++)
        {
            long t = rowTarget[r];
            if (t < 0) continue;

            var x = new double[v];
            var z = new double[v];
            for (int c = 0; c < v; c++)
            {
                double s = bias?[c] ?? 0;
                for (int k = 0; k < h; k++) s += hidden[r * h + k] * weight[c * h + k];
                x[c] = s;
                z[c] = cap > 0 ? cap * Math.Tanh(s / cap) : s;
            }

            double m = z.Max();
            int argmax = Array.IndexOf(z, m);
            double lse = m + Math.Log(z.Sum(zc => Math.Exp(zc - m)));
            double wt = w?[t] ?? 1;
            double smooth = 0;
            for (int c = 0; c < v; c++) smooth += (w?[c] ?? 1) * (lse - z[c]);
            double ce = (1 - eps) * wt * (lse - z[t]) + eps / v * smooth;
            double zl = zs * lse * lse;
            ceSum += ce;
            zSum += zl;
            hits += argmax == t ? 1 : 0;
            lseOut[r] = lse;
            rowLoss[r] = ce + zl;

            for (int c = 0; c < v; c++)
            {
                double p = Math.Exp(z[c] - lse);
                double wc = w?[c] ?? 1;

                // ∂ce/∂z_c = (1−ε)·w_t·(p_c − [c=t]) + (ε/V)·(W·p_c − w_c); ∂(s·lse²)/∂z_c = 2·s·lse·p_c.
                double dz = g * ((1 - eps) * wt * (p - (c == t ? 1 : 0)) + eps / v * (wSum * p - wc)) + gz * 2 * zs * lse * p;
                double dx = cap > 0 ? dz * (1 - Math.Pow(Math.Tanh(x[c] / cap), 2)) : dz;
                gradBias[c] += dx;
                for (int k = 0; k < h; k++)
                {
                    gradHidden[r * h + k] += dx * weight[c * h + k];
                    gradWeight[c * h + k] += dx * hidden[r * h + k];
                }
            }
        }

        double ceReduced = mean ? ceSum / totalWeight : ceSum;
        double zReduced = zs == 0 ? 0 : mean ? zSum / count : zSum;
        return new Result(ceReduced + zReduced, zReduced, count == 0 ? double.NaN : (double)hits / count, totalWeight,
            count, gradHidden, gradWeight, gradBias, lseOut, rowLoss);
    }
}
