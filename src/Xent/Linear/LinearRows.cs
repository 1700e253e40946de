using System.Numerics.Tensors;

namespace Xent.Linear;

/// <summary>The row kernel of the fused linear cross-entropy: turns each row of a chunk's logits block into its loss,
/// log-sum-exp and argmax, and overwrites the row with ∂loss/∂logits, so the gradient products read it in place.</summary>
/// <remarks>
/// Per row, with x the row of H·Wᵀ, b the bias, c the soft cap, t the target, ε the smoothing, w the class weights
/// (W = Σ w, or V without weights) and s_z the z-loss scale:
/// 1. z = x + b, then z ← c·tanh(z / c) when capped (Gemma 2's soft-capping).
/// 2. m = max z; d = z − m; S = Σ exp d; lse = m + log S. Sums run over d ≤ 0, as <c>SoftmaxRows</c> does, so large
///    logits do not cancel.
/// 3. ce = (1 − ε)·w_t·(log S − d_t) + (ε/V)·(W·log S − Σ w_c·d_c) — PyTorch's (1−ε)·nll + ε/V·smooth;
///    zl = s_z·lse².
/// 4. ∂/∂z_c = p_c·A − g·(ε/V)·w_c − [c = t]·g·(1 − ε)·w_t with p = exp d / S, A = g·((1 − ε)·w_t + (ε/V)·W) + g_z·lse,
///    g the cross-entropy's reduction scale and g_z = 2·s_z times the z-loss's (the derivative of s_z·lse² is
///    2·s_z·lse·p_c).
/// 5. Through the cap: ∂z/∂x = 1 − tanh² = 1 − (z / c)².
/// The row's own work is O(V) against the O(V·hidden) of its three GEMM products, so it uses TensorPrimitives'
/// vectorized passes rather than one fused loop.
/// </remarks>
internal unsafe struct LinearRows : IWorkerAction
{
    public float* Logits;
    public int Vocab;
    public int* Targets;
    public int* Rows;
    public float* Bias;
    public float* ClassWeight;
    public float WeightSum;
    public float Smoothing;
    public float ZLossScale;
    public float SoftCap;
    public bool WriteGradient;
    public float GradScale;
    public float ZGradScale;
    public float* Scratch;
    public int ScratchStride;
    public double* CrossEntropy;
    public double* ZLoss;
    public byte* Correct;
    public float* RowAmplitude;
    public float* LseOut;
    public float* LossOut;

    public readonly void Execute(int worker, int start, int end)
    {
        var e = new Span<float>(Scratch + (nint)worker * ScratchStride, Vocab);
        for (int j = start; j < end; j++)
        {
            Row(j, e);
        }
    }

    private readonly void Row(int j, Span<float> e)
    {
        int v = Vocab;
        var x = new Span<float>(Logits + (nint)j * v, v);
        int t = Targets[j];
        float eps = Smoothing;

        // 1. Bias and cap.
        if (Bias != null)
        {
            TensorPrimitives.Add(x, new ReadOnlySpan<float>(Bias, v), x);
        }

        if (SoftCap != 0f)
        {
            TensorPrimitives.Divide(x, SoftCap, x);
            TensorPrimitives.Tanh(x, x);
            TensorPrimitives.Multiply(x, SoftCap, x);
        }

        // 2. Log-sum-exp over d = z − m.
        float m = TensorPrimitives.Max(x);
        int argmax = TensorPrimitives.IndexOfMax(x);
        TensorPrimitives.Subtract(x, m, e);
        float dt = e[t];
        ReadOnlySpan<float> w = ClassWeight == null ? default : new ReadOnlySpan<float>(ClassWeight, v);
        float sumWd = 0f;
        if (eps != 0f)
        {
            sumWd = w.IsEmpty ? TensorPrimitives.Sum(e) : TensorPrimitives.Dot(w, e);
        }

        TensorPrimitives.Exp(e, e);
        float s = TensorPrimitives.Sum(e);
        float logS = MathF.Log(s);
        float lse = m + logS;

        // 3. The row's losses.
        float wt = w.IsEmpty ? 1f : w[t];
        float epsOverV = eps / v;
        float ce = wt * (logS - dt);
        if (eps != 0f)
        {
            ce = (1f - eps) * ce + epsOverV * (WeightSum * logS - sumWd);
        }

        float zl = ZLossScale * lse * lse;
        CrossEntropy[j] = ce;
        ZLoss[j] = zl;
        Correct[j] = argmax == t ? (byte)1 : (byte)0;
        int row = Rows[j];
        if (LseOut != null) LseOut[row] = lse;
        if (LossOut != null) LossOut[row] = ce + zl;

        if (!WriteGradient)
        {
            return;
        }

        // 4. ∂/∂z, built in the scratch row: e = exp d, so p·A = e·(A / S).
        float g = GradScale;
        float a = g * ((1f - eps) * wt + epsOverV * WeightSum) + ZGradScale * lse;
        RowAmplitude[j] = MathF.Abs(a);
        TensorPrimitives.Multiply(e, a / s, e);
        if (eps != 0f)
        {
            if (w.IsEmpty)
            {
                TensorPrimitives.Subtract(e, g * epsOverV, e);
            }
            else
            {
                TensorPrimitives.MultiplyAdd(w, -(g * epsOverV), e, e);
            }
        }

        e[t] -= g * (1f - eps) * wt;

        // 5. Through the cap, into the logits row.
        if (SoftCap != 0f)
        {
            TensorPrimitives.Divide(x, SoftCap, x);
            TensorPrimitives.Multiply(x, x, x);
            TensorPrimitives.Subtract(1f, x, x);
            TensorPrimitives.Multiply(x, e, x);
        }
        else
        {
            e.CopyTo(x);
        }
    }
}
