namespace Xent.Tests.Reference;

/// <summary>What the reference computes for one call.</summary>
/// <param name="Loss">One value per position for <see cref="Reduction.None"/> (one in all for a 1-D input), else one value.</param>
/// <param name="GradInput">∂(Σ_p gradOutput_p·loss_p)/∂input, the input's length.</param>
/// <param name="TotalWeight">Σ w[t] over the non-ignored targets (their count without weights); for probability
/// targets, the number of positions the mean divides by.</param>
public sealed record ReferenceResult(double[] Loss, double[] GradInput, double TotalWeight);

/// <summary>The one float64 reference for the tests: PyTorch's <c>nll_loss</c>, <c>cross_entropy</c> (class indices and
/// probabilities) and <c>log_softmax</c>, written as plain loops straight from the formulas. It is meant to be read and
/// believed, not to be fast: no vectors, no threads, no algebraic shortcuts beyond the chain rule written out.</summary>
/// <remarks>
/// <para>Layout: an input of shape (C), (N, C) or (N, C, d1, …, dK), row-major, is viewed as (N, C, D) with
/// D = d1·…·dK; position p = n·D + j holds the classes input[(n·C + c)·D + j]. A 1-D input is N = 1, D = 1.</para>
/// <para>Per position, with logp = log_softmax(x) (cross-entropy) or logp = x (NLL):</para>
/// <list type="bullet">
/// <item>class target t (t == ignoreIndex gives loss 0 and gradient 0):
/// loss = −(1 − ε)·w_t·logp_t − (ε/C)·Σ_c w_c·logp_c (the second term only when ε &gt; 0, as PyTorch adds it only then);</item>
/// <item>probabilities t: t'_c = t_c·(1 − ε) + ε/C (only when ε &gt; 0), loss = −Σ_c w_c·t'_c·logp_c.</item>
/// </list>
/// <para>Reductions: Sum adds the losses; Mean divides that sum by the total weight of the non-ignored targets (class
/// targets) or by N·D (probabilities, NaN when the input is empty). With smoothing the NLL term and the smoothing term
/// are reduced apart and then combined, as PyTorch does (it matters only when a mean divides by zero).</para>
/// <para>Gradient: for each position, a_c = ∂loss/∂logp_c is written down from the formula above, scaled by the upstream
/// gradient g of that position (gradOutput_p for None; gradOutput / denominator for Mean; gradOutput for Sum), then
/// pushed through log-softmax: ∂/∂x_j = Σ_c b_c·(δ_cj − p_j) = b_j − p_j·Σ_c b_c, with b_c = g·a_c and
/// p_j = exp(logp_j).</para>
/// </remarks>
public static class ReferenceLoss
{
    /// <summary>NLL over log-probabilities (PyTorch's <c>F.nll_loss</c>) and its gradient.</summary>
    public static ReferenceResult Nll(double[] input, long[] shape, long[] target, double[]? weight = null,
        long ignoreIndex = -100, Reduction reduction = Reduction.Mean, double[]? gradOutput = null) =>
        ClassTarget(crossEntropy: false, input, shape, target, weight, ignoreIndex, reduction, 0.0, gradOutput);

    /// <summary>Cross-entropy with class indices (PyTorch's <c>F.cross_entropy</c>) and its gradient.</summary>
    public static ReferenceResult CrossEntropy(double[] input, long[] shape, long[] target, double[]? weight = null,
        long ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0,
        double[]? gradOutput = null) =>
        ClassTarget(crossEntropy: true, input, shape, target, weight, ignoreIndex, reduction, labelSmoothing, gradOutput);

    /// <summary>Cross-entropy with class probabilities (the target has the input's shape) and its gradient.</summary>
    public static ReferenceResult CrossEntropy(double[] input, long[] shape, double[] probTarget, double[]? weight = null,
        Reduction reduction = Reduction.Mean, double labelSmoothing = 0.0, double[]? gradOutput = null)
    {
        (long n, int c, long d) = View(shape);
        long positions = n * d;
        double[] loss = new double[positions];
        double[] gradInput = new double[input.Length];

        // The mean divides by numel / C; PyTorch makes the mean over an empty input NaN.
        double denominator = input.Length == 0 ? double.NaN : positions;
        double[] g = Upstream(reduction, gradOutput, positions, denominator);

        for (long p = 0; p < positions; p++)
        {
            double[] x = GatherRow(input, c, d, p);
            double[] t = GatherRow(probTarget, c, d, p);
            double[] logp = LogSoftmaxRow(x);

            double[] a = new double[c];
            double l = 0;
            for (int k = 0; k < c; k++)
            {
                double smoothed = labelSmoothing > 0 ? t[k] * (1 - labelSmoothing) + labelSmoothing / c : t[k];
                double wk = weight == null ? 1.0 : weight[k];
                l -= wk * smoothed * logp[k];
                a[k] = -wk * smoothed;
            }

            loss[p] = l;
            ScatterRow(gradInput, c, d, p, LogSoftmaxBackward(a, logp, g[p]));
        }

        return new ReferenceResult(Reduce(loss, reduction, denominator, shape.Length == 1), gradInput, denominator);
    }

    /// <summary>log_softmax along <paramref name="dim"/> (negative counts from the end), computed directly with the
    /// max subtracted.</summary>
    public static double[] LogSoftmax(double[] input, long[] shape, int dim)
    {
        if (dim < 0)
        {
            dim += shape.Length;
        }

        long outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < shape.Length; i++) inner *= shape[i];
        int c = (int)shape[dim];

        double[] output = new double[input.Length];
        for (long p = 0; p < outer * inner; p++)
        {
            double[] row = GatherRow(input, c, inner, p);
            ScatterRow(output, c, inner, p, LogSoftmaxRow(row));
        }

        return output;
    }

    /// <summary>log_softmax of one row: x_c − m − log Σ_k exp(x_k − m), m = max_k x_k.</summary>
    public static double[] LogSoftmaxRow(double[] x)
    {
        double m = double.NegativeInfinity;
        foreach (double v in x)
        {
            // A NaN anywhere makes the whole row NaN, as in PyTorch.
            m = double.IsNaN(v) || double.IsNaN(m) ? double.NaN : Math.Max(m, v);
        }

        double s = 0;
        foreach (double v in x)
        {
            s += Math.Exp(v - m);
        }

        double logS = Math.Log(s);
        double[] logp = new double[x.Length];
        for (int k = 0; k < x.Length; k++)
        {
            logp[k] = x[k] - m - logS;
        }

        return logp;
    }

    private static ReferenceResult ClassTarget(bool crossEntropy, double[] input, long[] shape, long[] target,
        double[]? weight, long ignoreIndex, Reduction reduction, double labelSmoothing, double[]? gradOutput)
    {
        (long n, int c, long d) = View(shape);
        long positions = n * d;

        // The total weight, checking every target as PyTorch does: ignore_index first, then the bounds.
        double totalWeight = 0;
        for (long p = 0; p < positions; p++)
        {
            long t = target[p];
            if (t == ignoreIndex)
            {
                continue;
            }

            if (t < 0 || t >= c)
            {
                throw new ArgumentOutOfRangeException(nameof(target), $"Target {t} is out of bounds.");
            }

            totalWeight += weight == null ? 1.0 : weight[t];
        }

        // The two terms are kept apart and reduced apart, as cross_entropy_loss_label_smoothing does: with a zero
        // total weight the mean of the NLL term is 0/0 = NaN even where the smoothing term alone would be ±∞.
        double[] nll = new double[positions];
        double[] smooth = new double[positions];
        double[] gradInput = new double[input.Length];
        double[] g = Upstream(reduction, gradOutput, positions, totalWeight);

        for (long p = 0; p < positions; p++)
        {
            long t = target[p];
            if (t == ignoreIndex)
            {
                // Loss 0 and gradient 0, whatever the logits hold (Xent's choice: PyTorch's log-softmax backward would
                // turn a NaN logit of an ignored row into a NaN gradient).
                continue;
            }

            double[] x = GatherRow(input, c, d, p);
            double[] logp = crossEntropy ? LogSoftmaxRow(x) : x;

            // nll = −w_t·logp_t, smooth = −Σ_k w_k·logp_k, loss = (1 − ε)·nll + (ε/C)·smooth; a_k = ∂loss/∂logp_k.
            double wt = weight == null ? 1.0 : weight[t];
            double[] a = new double[c];
            nll[p] = -wt * logp[t];
            a[t] = -(1 - labelSmoothing) * wt;
            if (labelSmoothing > 0)
            {
                for (int k = 0; k < c; k++)
                {
                    double wk = weight == null ? 1.0 : weight[k];
                    smooth[p] -= wk * logp[k];
                    a[k] -= labelSmoothing / c * wk;
                }
            }

            double[] gradRow = new double[c];
            if (crossEntropy)
            {
                gradRow = LogSoftmaxBackward(a, logp, g[p]);
            }
            else
            {
                // NLL's input is logp itself; only the target's entry is touched (PyTorch zero-fills the rest).
                gradRow[t] = g[p] * a[t];
            }

            ScatterRow(gradInput, c, d, p, gradRow);
        }

        double[] loss = Reduce(nll, reduction, totalWeight, shape.Length == 1);
        if (labelSmoothing > 0)
        {
            // PyTorch adds the smoothing term only for ε > 0 (else 0·∞, from a −∞ logit, would make a finite loss NaN).
            double[] smoothLoss = Reduce(smooth, reduction, totalWeight, shape.Length == 1);
            for (int i = 0; i < loss.Length; i++)
            {
                loss[i] = (1 - labelSmoothing) * loss[i] + labelSmoothing / c * smoothLoss[i];
            }
        }

        return new ReferenceResult(loss, gradInput, totalWeight);
    }

    /// <summary>∂/∂x_j of Σ_k g·a_k·logp_k(x): with b_k = g·a_k (the gradient reaching logp, as autograd passes it on),
    /// b_j − p_j·Σ_k b_k — PyTorch's <c>_log_softmax_backward_data</c>.</summary>
    private static double[] LogSoftmaxBackward(double[] a, double[] logp, double g)
    {
        double[] b = new double[a.Length];
        double sumB = 0;
        for (int k = 0; k < a.Length; k++)
        {
            // g first, then the sum: where g is ±∞ (a mean over zero total weight) a zero a_k makes NaN, as in PyTorch.
            b[k] = g * a[k];
            sumB += b[k];
        }

        double[] grad = new double[a.Length];
        for (int j = 0; j < a.Length; j++)
        {
            grad[j] = b[j] - Math.Exp(logp[j]) * sumB;
        }

        return grad;
    }

    /// <summary>The upstream gradient of each position's loss.</summary>
    private static double[] Upstream(Reduction reduction, double[]? gradOutput, long positions, double denominator)
    {
        double[] g = new double[positions];
        for (long p = 0; p < positions; p++)
        {
            g[p] = reduction switch
            {
                Reduction.None => gradOutput == null ? 1.0 : gradOutput[p],
                Reduction.Mean => (gradOutput == null ? 1.0 : gradOutput[0]) / denominator,
                _ => gradOutput == null ? 1.0 : gradOutput[0],
            };
        }

        return g;
    }

    private static double[] Reduce(double[] loss, Reduction reduction, double denominator, bool noBatch)
    {
        if (reduction == Reduction.None)
        {
            // A 1-D input has no batch: its unreduced loss is a scalar, i.e. the one position.
            return noBatch ? [loss[0]] : loss;
        }

        double sum = 0;
        foreach (double v in loss)
        {
            sum += v;
        }

        return [reduction == Reduction.Mean ? sum / denominator : sum];
    }

    /// <summary>(C) is N = 1, D = 1; (N, C) is D = 1; (N, C, d1, …, dK) has D = d1·…·dK.</summary>
    private static (long N, int C, long D) View(long[] shape)
    {
        if (shape.Length == 1)
        {
            return (1, (int)shape[0], 1);
        }

        long d = 1;
        for (int i = 2; i < shape.Length; i++)
        {
            d *= shape[i];
        }

        return (shape[0], (int)shape[1], d);
    }

    /// <summary>The C values of position p = n·D + j, from (N, C, D).</summary>
    private static double[] GatherRow(double[] values, int c, long d, long p)
    {
        long batch = p / d, j = p % d;
        double[] row = new double[c];
        for (int k = 0; k < c; k++)
        {
            row[k] = values[(batch * c + k) * d + j];
        }

        return row;
    }

    private static void ScatterRow(double[] values, int c, long d, long p, double[] row)
    {
        long batch = p / d, j = p % d;
        for (int k = 0; k < c; k++)
        {
            values[(batch * c + k) * d + j] = row[k];
        }
    }
}
