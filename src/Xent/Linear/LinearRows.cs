using System.Numerics;
using System.Runtime.CompilerServices;

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
/// Three streaming passes per row (z and max; exp-sum, smoothing sum and first argmax; gradient, recomputing exp rather
/// than keeping a V-float scratch row). The passes are compiled fully optimized from the first call
/// (AggressiveOptimization): TensorPrimitives, an IL-only package, runs its first calls at tier 0, and measured 8 ns
/// per logit here against 1 ns for these loops (bench/Xent.LinearBench rows).
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
    public double* CrossEntropy;
    public double* ZLoss;
    public byte* Correct;
    public float* RowAmplitude;
    public float* LseOut;
    public float* LossOut;

    /// <summary>The vector width: <see cref="Kernels.GemmIsa.Vector512"/>, <see cref="Kernels.GemmIsa.Vector256"/>,
    /// <see cref="Kernels.GemmIsa.Vector128"/> or <see cref="Kernels.GemmIsa.Scalar"/>, as the GEMM's (the driver picks
    /// the best supported).</summary>
    public Kernels.GemmIsa Isa;

    /// <summary>Terms per lane in one float partial of a row's sums, whose partials are added in double: 64 in a vector
    /// kernel (16 measured 5–10% slower for 32000 classes), 16 in the scalar one's single running float.</summary>
    private const int SumBlock = 64, ScalarSumBlock = 16;

    public readonly void Execute(int worker, int start, int end)
    {
        for (int j = start; j < end; j++)
        {
            if (Isa == Kernels.GemmIsa.Vector512)
            {
                Row<RowVector512>(j);
            }
            else if (Isa == Kernels.GemmIsa.Vector256)
            {
                Row<RowVector256>(j);
            }
            else if (Isa == Kernels.GemmIsa.Vector128)
            {
                Row<RowVector128>(j);
            }
            else
            {
                Row<RowScalar>(j);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private readonly void Row<TV>(int j)
        where TV : struct, IRowVector<TV>
    {
        int v = Vocab;
        int body = v - v % TV.Count;
        float* x = Logits + (nint)j * v;
        float* w = ClassWeight;
        int t = Targets[j];
        float eps = Smoothing;

        // 1–2. z (bias, cap) in place and its max; then Σ exp d, Σ w·d and the first argmax.
        float m = float.Max(MaxPass<TV>(x, Bias, SoftCap, 0, body), MaxPass<RowScalar>(x, Bias, SoftCap, body, v));
        // The sums in blocks of SumBlock terms a lane, added in double (as the loss functions' row kernels take them): in one
        // running float over the whole row (the scalar kernel), a smoothed loss over 50000 classes came out 9e-7 off.
        int argmax = -1;
        double sumD = 0, sumWdD = 0;
        int block = TV.Count == 1 ? ScalarSumBlock : SumBlock * TV.Count;
        for (int from = 0; from < body; from += block)
        {
            (float sb, float wb) = SumPass<TV>(x, w, eps != 0f, m, from, Math.Min(from + block, body), ref argmax);
            sumD += sb;
            sumWdD += wb;
        }

        // (The tail past the last whole vector is shorter than a vector, so one block.)
        (float sTail, float sumWdTail) = SumPass<RowScalar>(x, w, eps != 0f, m, body, v, ref argmax);
        float s = (float)(sumD + sTail), sumWd = (float)(sumWdD + sumWdTail);
        float dt = x[t] - m;
        float logS = MathF.Log(s);
        float lse = m + logS;

        // 3. The row's losses.
        float wt = w == null ? 1f : w[t];
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

        // 4–5. ∂/∂x in place: exp(d)·(A/S) − g·(ε/V)·w, through the cap, then the target's own term.
        float g = GradScale;
        float a = g * ((1f - eps) * wt + epsOverV * WeightSum) + ZGradScale * lse;
        RowAmplitude[j] = MathF.Abs(a);
        float zt = x[t];
        float beta = g * epsOverV;
        GradientPass<TV>(x, w, m, a / s, beta, SoftCap, 0, body);
        GradientPass<RowScalar>(x, w, m, a / s, beta, SoftCap, body, v);
        float chain = 1f;
        if (SoftCap != 0f)
        {
            float u = zt / SoftCap;
            chain = 1f - u * u;
        }

        x[t] -= g * (1f - eps) * wt * chain;
    }

    /// <summary>z = cap·tanh((x + b)/cap) (each part when present), written back when it changed; returns max z
    /// (NaN when any z is NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float MaxPass<TV>(float* x, float* bias, float cap, int from, int to)
        where TV : struct, IRowVector<TV>
    {
        if (from >= to)
        {
            return float.NegativeInfinity;
        }

        TV max = TV.Create(float.NegativeInfinity);
        TV capV = TV.Create(cap);
        for (int i = from; i < to; i += TV.Count)
        {
            TV z = TV.Load(x + i);
            if (bias != null)
            {
                z = TV.Add(z, TV.Load(bias + i));
            }

            if (cap != 0f)
            {
                z = TV.Multiply(capV, TV.Tanh(TV.Divide(z, capV)));
            }

            if (bias != null || cap != 0f)
            {
                TV.Store(z, x + i);
            }

            max = TV.Max(max, z);
        }

        return TV.MaxAcross(max);
    }

    /// <summary>Σ exp(z − m) and, when smoothing, Σ w·(z − m) (Σ (z − m) without weights); sets
    /// <paramref name="argmax"/> to the first index where z = m if not found yet.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (float Sum, float SumWd) SumPass<TV>(float* x, float* w, bool smoothing, float m, int from, int to, ref int argmax)
        where TV : struct, IRowVector<TV>
    {
        if (from >= to)
        {
            return (0f, 0f);
        }

        TV mv = TV.Create(m);
        TV sum = TV.Create(0f), sumWd = TV.Create(0f);
        for (int i = from; i < to; i += TV.Count)
        {
            TV z = TV.Load(x + i);
            TV d = TV.Subtract(z, mv);
            sum = TV.Add(sum, TV.Exp(d));
            if (smoothing)
            {
                sumWd = w == null ? TV.Add(sumWd, d) : TV.MultiplyAdd(TV.Load(w + i), d, sumWd);
            }

            if (argmax < 0)
            {
                uint bits = TV.EqualsBits(z, mv);
                if (bits != 0)
                {
                    argmax = i + BitOperations.TrailingZeroCount(bits);
                }
            }
        }

        return (TV.SumAcross(sum), TV.SumAcross(sumWd));
    }

    /// <summary>x ← (exp(z − m)·α − β·w)·(1 − (z/cap)²), the last factor only with a cap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GradientPass<TV>(float* x, float* w, float m, float alpha, float beta, float cap, int from, int to)
        where TV : struct, IRowVector<TV>
    {
        TV mv = TV.Create(m), av = TV.Create(alpha), bv = TV.Create(beta), capV = TV.Create(cap), one = TV.Create(1f);
        for (int i = from; i < to; i += TV.Count)
        {
            TV z = TV.Load(x + i);
            TV grad = TV.Multiply(TV.Exp(TV.Subtract(z, mv)), av);
            grad = TV.Subtract(grad, w == null ? bv : TV.Multiply(bv, TV.Load(w + i)));
            if (cap != 0f)
            {
                TV u = TV.Divide(z, capV);
                grad = TV.Multiply(grad, TV.Subtract(one, TV.Multiply(u, u)));
            }

            TV.Store(grad, x + i);
        }
    }
}
