using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>Fused float32 row kernels for the softmax losses: one exp per logit, each row read from memory once,
/// each gradient written once.</summary>
/// <remarks>
/// The exp (AVX-512) reduces by ln 2 / 16 (2 FMAs), takes 2^(j/16) from a 16-entry table in one register (vpermps),
/// e^r − 1 from a cubic, and scales by 2^n with vscalefps: 12 instructions with the clamp at both ends, within 1.07 ulp of the true value
/// (VectorExpTests checks 2 on a dense grid over [−104, 88.75]); it replaced Cephes' <c>expf</c> (14 instructions,
/// 1.26 ulp), which the AVX2 form keeps. A pass that only sums its exps (the loss alone, log-softmax's log Σ) takes
/// <see cref="ExpForSum(Vector512{float})"/>, two instructions shorter and less accurate per term, not per sum. Callers pass x − r, where r is the row's max, as in PyTorch (x − max is exact
/// near the max, where the large terms are), or for a loss alone the target's logit (the sum is then checked against
/// <see cref="SumLimit"/>): finite, −∞ or, in a row that then goes to the general path, NaN or +∞. float16 passes, whose x − r stays
/// below 2^18, skip the clamp (<see cref="ExpUnclamped"/>), and so do the one-read passes' float and bfloat16 steps
/// whose logits they find below 2^17 in magnitude (<see cref="LowRows.UnclampedLoad"/>). Measured on this machine's Zen 4
/// core it is about 3× faster than <c>TensorPrimitives.Exp</c> (0.18–0.21 ns per float with four in flight, Cephes'
/// 0.20), and for 16-bit inputs the exp count, not memory, sets the floor (bench/RESULTS.md).
/// </remarks>
internal static unsafe class FloatRows
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float P0 = 1.9875691500E-4f;
    private const float P1 = 1.3981999507E-3f;
    private const float P2 = 8.3334519073E-3f;
    private const float P3 = 4.1665795894E-2f;
    private const float P4 = 1.6666665459E-1f;
    private const float P5 = 5.0000001201E-1f;

    /// <summary>Whether the fused kernels apply here: AVX-512 (with vscalefps), AVX2 with FMA, or any accelerated 128-bit
    /// vectors (Arm's AdvSIMD, x86 below AVX2), through the portable <see cref="Vector128"/> operations.</summary>
    public static bool IsSupported => Avx512F.IsSupported || IsAvx2 || Vector128.IsHardwareAccelerated;

    /// <summary>Whether the AVX2 forms run here; otherwise, below AVX-512, the 128-bit ones.</summary>
    internal static bool IsAvx2 => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>e^x for any x: x is first clamped to [−104, 104] (vmaxps and vminps with the constant first, so that a
    /// NaN x comes through). Below −104 e^x is 0 in float and above 88.7 it is +∞; unclamped, an x past about 2^18 leaves
    /// the reduction inexact, and from about 10^8 on the result can come out −∞ or 0 instead of +∞, which would hide an
    /// overflow from the one-read passes' sums. (vrangeps would clamp both ends in one instruction, but it returns the
    /// bound for a NaN.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x) =>
        ExpUnclamped(Vector512.Min(Vector512.Max(x, Vector512.Create(-ClampMagnitude)), Vector512.Create(ClampMagnitude)));

    /// <summary><see cref="Exp(Vector512{float})"/> for x ≤ 0 or NaN (x − max, as the one-read passes take it against
    /// the max): only the lower clamp (a NaN comes through vmaxps with the constant first), one instruction fewer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpNonPositive(Vector512<float> x) =>
        ExpUnclamped(Vector512.Max(Vector512.Create(-ClampMagnitude), x));

    /// <summary>Where <see cref="Exp(Vector512{float})"/> clamps x: past both ends of float's exp (e^−104 rounds to 0,
    /// e^89 overflows).</summary>
    private const float ClampMagnitude = 104f;

    /// <summary><see cref="Exp(Vector512{float})"/> without its clamp, for |x| &lt; 2^18 only (x − r of two float16 values,
    /// or of a float16 infinity or NaN read downscaled, or of float or bfloat16 values checked below 2^17): there x / ln 2
    /// still rounds to sixteenths, below −104 the result is 0 (or a subnormal within FLT_MIN of it) and above 88.7 it is
    /// +∞. Two instructions fewer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpUnclamped(Vector512<float> x)
    {
        // e^x = 2^(n/16)·e^r with n = round(16x / ln 2): adding 1.5·2^19 to x / ln 2 rounds it to a multiple of 1/16,
        // n/16, and leaves n in the low mantissa bits of t; vpermps picks 2^((n mod 16)/16) by those bits, vscalefps
        // multiplies by 2^floor(n/16), and |r| <= ln 2 / 32 leaves e^r − 1 to r + r²/2 + r³/6 (the next term is below
        // 10^−8). T + T·(e^r − 1) in one FMA keeps the table's rounding the main error.
        Vector512<float> t = Avx512F.FusedMultiplyAdd(x, Vector512.Create(Log2E), Vector512.Create(SixteenthsBias));
        Vector512<float> n = t - Vector512.Create(SixteenthsBias);
        Vector512<float> r = Avx512F.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), x);
        r = Avx512F.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        Vector512<float> q = Avx512F.FusedMultiplyAdd(Vector512.Create(1f / 6f), r, Vector512.Create(0.5f));
        q = Avx512F.FusedMultiplyAdd(q, r, Vector512<float>.One) * r;
        Vector512<float> table = Avx512F.PermuteVar16x32(Vector512.Create(
            1f, 1.0442737f, 1.0905077f, 1.1387886f, 1.1892071f, 1.2418578f, 1.2968396f, 1.3542556f,
            1.4142135f, 1.4768262f, 1.5422108f, 1.6104903f, 1.6817929f, 1.7562522f, 1.8340081f, 1.9152066f), t.AsInt32());
        return Avx512F.Scale(Avx512F.FusedMultiplyAdd(table, q, table), n);
    }

    /// <summary>e^x for a term of a sum that nothing else reads (a loss alone, log-softmax's log Σ): <see
    /// cref="Exp(Vector512{float})"/> with its clamp, through <see cref="ExpForSumUnclamped"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpForSum(Vector512<float> x) =>
        ExpForSumUnclamped(Vector512.Min(Vector512.Max(x, Vector512.Create(-ClampMagnitude)), Vector512.Create(ClampMagnitude)));

    /// <summary><see cref="ExpUnclamped"/> (the same domain, saturation and NaN) two instructions shorter, for the terms
    /// of a sum that nothing else reads: ln 2 in one part, so the reduction adds a relative error of at most |x|·2.8·10^−9
    /// (ln 2 rounded to float is 1.9·10^−9 off, times x / ln 2), and e^r from a quadratic on |r| ≤ ln 2 / 64 with
    /// 2^(j/32) from a 32-entry table (vpermt2ps). Within 1.65 ulp on [−1, 1] and 1.65 + 0.05·|x| ulp elsewhere
    /// (VectorExpTests holds 1.75 + 0.05·|x|), against 1.05 for the exp whose results are kept. A sum's relative error is
    /// its terms' averaged with their weights e^x, which for a log-sum-exp taken against the max or a target's logit
    /// stays far below the ulp of the loss: FastPathTests holds the losses of the loss alone within 2 ulp of float64's,
    /// and measured 0.65–1.11 ulp with either exp. 0.127 ns per float on a Zen 4 core against 0.165, and the bfloat16 and
    /// float16 forward of 4096 × 32000 12–15% faster (bench/RESULTS.md, tenth session).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpForSumUnclamped(Vector512<float> x)
    {
        Vector512<float> t = Avx512F.FusedMultiplyAdd(x, Vector512.Create(Log2E), Vector512.Create(ThirtySecondsBias));
        Vector512<float> n = t - Vector512.Create(ThirtySecondsBias);
        Vector512<float> r = Avx512F.FusedMultiplyAdd(n, Vector512.Create(-Ln2), x);
        Vector512<float> table = Avx512F.PermuteVar16x32x2(
            Vector512.Create(
                1f, 1.0218972f, 1.0442737f, 1.0671405f, 1.0905077f, 1.1143868f, 1.1387886f, 1.1637249f,
                1.1892071f, 1.2152474f, 1.2418578f, 1.269051f, 1.2968396f, 1.3252367f, 1.3542556f, 1.38391f),
            t.AsInt32(),
            Vector512.Create(
                1.4142135f, 1.4451808f, 1.4768262f, 1.5091645f, 1.5422108f, 1.5759809f, 1.6104903f, 1.6457555f,
                1.6817929f, 1.7186193f, 1.7562522f, 1.7947091f, 1.8340081f, 1.8741677f, 1.9152066f, 1.9571441f));
        Vector512<float> p = Avx512F.FusedMultiplyAdd(Vector512.Create(ExpC2), r, Vector512.Create(ExpC1));
        return Avx512F.Scale(Avx512F.FusedMultiplyAdd(table * r, p, table), n);
    }

    /// <summary>1.5 · 2^18: added to a float of magnitude below 2^17, it leaves that float rounded to a multiple of 1/32,
    /// and 32 times it in the low mantissa bits.</summary>
    private const float ThirtySecondsBias = 393216f;

    /// <summary>1.5 · 2^20: added to a float of magnitude below 2^19, it leaves that float rounded to a multiple of 1/8,
    /// and 8 times it in the low mantissa bits.</summary>
    private const float EighthsBias = 1572864f;

    /// <summary>1.5 · 2^23: added to a float of magnitude below 2^22 and taken away again, it leaves that float rounded to
    /// the nearest whole number (ties to even).</summary>
    private const float RoundingBias = 12582912f;

    /// <summary>e^r ≈ 1 + r + <see cref="ExpEighthsC2"/>·r² + <see cref="ExpEighthsC3"/>·r³ on |r| ≤ ln 2 / 16: the
    /// largest error on a grid over [−3, 0] searched down to 1.06 ulp (1/2 and 1/6 give 2.79).</summary>
    private const float ExpEighthsC2 = 0.50006f;
    private const float ExpEighthsC3 = 0.16666667f;

    /// <summary>ln 2 rounded to float.</summary>
    private const float Ln2 = 0.693147182f;

    /// <summary>e^r ≈ 1 + <see cref="ExpC1"/>·r + <see cref="ExpC2"/>·r² on |r| ≤ ln 2 / 64: the largest error on a grid
    /// over [−6, 0] searched down to 1.65 ulp (1 and 1/2 give 1.73).</summary>
    private const float ExpC1 = 1.0000144f;
    private const float ExpC2 = 0.49993443f;

    /// <summary>ln x for positive, finite, normal x (AVX-512): Cephes' <c>logf</c> (x = m·2^e with m in [√½, √2), a
    /// degree-8 polynomial in m − 1, ln 2 in two parts), with vgetmantps and vgetexpps taking x apart. Within 0.83 ulp
    /// on every seventh float from FLT_MIN to 3e38, measured once (VectorLogTests holds it to 1 ulp on every 61st);
    /// <c>Vector512.Log</c> is within 2.45 there, and is not inlined. 0, ∞ and NaN give NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Log(Vector512<float> x)
    {
        Vector512<float> m = Avx512F.GetMantissa(x, 0);   // in [1, 2)
        Vector512<float> e = Avx512F.GetExponent(x);
        Vector512<float> high = Vector512.GreaterThan(m, Vector512.Create(Sqrt2));
        m = Vector512.ConditionalSelect(high, m * 0.5f, m);
        e = Vector512.ConditionalSelect(high, e + Vector512<float>.One, e);
        Vector512<float> f = m - Vector512<float>.One;
        Vector512<float> z = f * f;
        Vector512<float> p = Avx512F.FusedMultiplyAdd(Vector512.Create(7.0376836292E-2f), f, Vector512.Create(-1.1514610310E-1f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(1.1676998740E-1f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(-1.2420140846E-1f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(1.4249322787E-1f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(-1.6668057665E-1f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(2.0000714765E-1f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(-2.4999993993E-1f));
        p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(3.3333331174E-1f));
        Vector512<float> y = p * (f * z);
        y = Avx512F.FusedMultiplyAdd(e, Vector512.Create(Ln2Lo), y);
        y = Avx512F.FusedMultiplyAdd(z, Vector512.Create(-0.5f), y);
        return Avx512F.FusedMultiplyAdd(e, Vector512.Create(Ln2Hi), f + y);
    }

    private const float Sqrt2 = 1.41421356f;

    /// <summary>1.5 · 2^19: added to a float of magnitude below 2^18, it leaves that float rounded to a multiple of 1/16,
    /// and 16 times it in the low mantissa bits.</summary>
    private const float SixteenthsBias = 786432f;

    /// <summary>e^x without AVX-512: Cephes' <c>expf</c> (ln 2 in two parts, a degree-5 polynomial for e^r on
    /// |r| ≤ ln 2 / 2, 2^n built in the exponent bits). For x ≤ 88.37 only, which its callers keep to (they pass x − max ≤
    /// 0): past that 2^n overflows the exponent field. Results from about −87.68 down are 0 (above it, p·2^−126 may be a
    /// subnormal, exact to FLT_MIN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        // No vscalefps below AVX-512: 2^n is built in the exponent field, n + 127 taken at least 0, so that below n = −126
        // the factor is 0.0 (a mask that zeroed x < −87.34 instead spilled a register in the AVX2 loops: this is 2–6%
        // faster, alternated call by call). The clamp keeps the reduction finite for −∞.
        x = Vector256.Max(x, Vector256.Create(-88f));
        Vector256<float> n = Avx.RoundToNearestInteger(x * Vector256.Create(Log2E));
        Vector256<float> r = Fma.MultiplyAdd(n, Vector256.Create(-Ln2Hi), x);
        r = Fma.MultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        Vector256<float> p = Fma.MultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P2));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P3));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P4));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(P5));
        p = Fma.MultiplyAdd(p, r * r, r + Vector256<float>.One);
        Vector256<int> bits = Avx2.Max(Avx.ConvertToVector256Int32(n) + Vector256.Create(127), Vector256<int>.Zero) << 23;
        return p * bits.AsSingle();
    }

    /// <summary><see cref="Exp(Vector256{float})"/> for a term of a sum that nothing else reads (AVX2 with FMA), for x ≤ 0
    /// or NaN, as <see cref="ExpForSum(Vector512{float})"/> shortens the AVX-512 one: ln 2 in one part and a cubic with
    /// 2^(j/8) from an 8-entry table (vpermps) instead of Cephes' degree-5 polynomial, 4 instructions fewer. Within 1.09
    /// ulp on [−1, 0] and 1.07 + 0.05·|x| ulp down to −87.3; below, −∞ included, it gives about 1.2·10^−38 rather than 0
    /// or a subnormal (for the terms of a sum against its max, at most C times that on a sum of at least 1). NaN stays
    /// NaN. The float32 forward of 4096 × 32000 with AVX-512 off: 30.0–30.2 → 22.4–23.0 ms (bench/RESULTS.md).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpForSum(Vector256<float> x)
    {
        x = Avx.Max(Vector256.Create(-87.3f), x);   // vmaxps with the constant first: a NaN x comes through
        Vector256<float> t = Fma.MultiplyAdd(x, Vector256.Create(Log2E), Vector256.Create(EighthsBias));
        Vector256<float> n = t - Vector256.Create(EighthsBias);
        Vector256<float> r = Fma.MultiplyAdd(n, Vector256.Create(-Ln2), x);
        Vector256<float> p = Fma.MultiplyAdd(Vector256.Create(ExpEighthsC3), r, Vector256.Create(ExpEighthsC2));
        p = Fma.MultiplyAdd(p, r, Vector256<float>.One) * r;
        Vector256<float> table = Avx2.PermuteVar8x32(
            Vector256.Create(1f, 1.0905077f, 1.1892071f, 1.2968396f, 1.4142135f, 1.5422108f, 1.6817929f, 1.8340081f), t.AsInt32());
        // 2^floor(n) as a float: t's bits past its three fraction bits, moved into the exponent field, plus the bias.
        Vector256<int> scale = ((t.AsInt32() << 20) & Vector256.Create(unchecked((int)0xFF800000))) + Vector256.Create(127 << 23);
        return Fma.MultiplyAdd(table, p, table) * scale.AsSingle();
    }

    /// <summary><see cref="Exp(Vector256{float})"/> in 128-bit vectors, from portable operations (Arm, x86 below AVX2):
    /// the same reduction and polynomial; its multiply-adds are fused where the machine has FMA (Arm always). Only
    /// operations that SSE2 has are used: NativeAOT's default x64 target guarantees no more, and compiles anything else
    /// as a call per element (<c>Vector128.Round</c>, SSE4.1's roundps, made the whole 4096 × 32000 forward+backward 6
    /// times slower there than under the JIT with AVX2 off).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Exp(Vector128<float> x)
    {
        x = Vector128.Max(x, Vector128.Create(-88f));
        // Round to nearest even by adding and taking away 1.5 · 2^23 (|x·log2 e| < 2^22 here): Vector128.Round's result.
        Vector128<float> n = (x * Vector128.Create(Log2E) + Vector128.Create(RoundingBias)) - Vector128.Create(RoundingBias);
        Vector128<float> r = Vector128.MultiplyAddEstimate(n, Vector128.Create(-Ln2Hi), x);
        r = Vector128.MultiplyAddEstimate(n, Vector128.Create(-Ln2Lo), r);
        Vector128<float> p = Vector128.MultiplyAddEstimate(Vector128.Create(P0), r, Vector128.Create(P1));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(P2));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(P3));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(P4));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(P5));
        p = Vector128.MultiplyAddEstimate(p, r * r, r + Vector128<float>.One);
        // (n is a whole number in −127..127, or NaN, and then so is p: the native conversion, without the saturating one's
        // four extra instructions on x86, serves.)
        // n ≥ −127 after the clamp, so n + 127 ≥ 0 (no max with 0, an SSE4.1 instruction): for n = −127 the factor is 0.0.
        // A NaN n comes with a NaN p, whatever factor its conversion makes.
        Vector128<int> bits = (Vector128.ConvertToInt32Native(n) + Vector128.Create(127)) << 23;
        return p * bits.AsSingle();
    }

    /// <summary>max x_i over a non-empty run with the bare vmaxps: cheaper than <c>TensorPrimitives.Max</c>, which
    /// propagates NaN, and a NaN here may be lost. Callers pass the result to <see cref="ExpSum"/>, whose sum is NaN
    /// whenever an x_i is, and check that sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Max(float* x, int n)
    {
        int i = 0;
        float m = float.NegativeInfinity;
        if (Avx512F.IsSupported && n >= 16)
        {
            Vector512<float> m0 = Vector512.Create(float.NegativeInfinity), m1 = m0, m2 = m0, m3 = m0;
            for (; i <= n - 64; i += 64)
            {
                m0 = Avx512F.Max(m0, Vector512.Load(x + i));
                m1 = Avx512F.Max(m1, Vector512.Load(x + i + 16));
                m2 = Avx512F.Max(m2, Vector512.Load(x + i + 32));
                m3 = Avx512F.Max(m3, Vector512.Load(x + i + 48));
            }

            for (; i <= n - 16; i += 16)
            {
                m0 = Avx512F.Max(m0, Vector512.Load(x + i));
            }

            m = HorizontalMax(Avx512F.Max(Avx512F.Max(m0, m1), Avx512F.Max(m2, m3)));
        }
        else if (Avx.IsSupported && n >= 8)
        {
            Vector256<float> m0 = Vector256.Create(float.NegativeInfinity), m1 = m0;
            for (; i <= n - 16; i += 16)
            {
                m0 = Avx.Max(m0, Vector256.Load(x + i));
                m1 = Avx.Max(m1, Vector256.Load(x + i + 8));
            }

            for (; i <= n - 8; i += 8)
            {
                m0 = Avx.Max(m0, Vector256.Load(x + i));
            }

            Vector256<float> all = Avx.Max(m0, m1);
            for (int l = 0; l < 8; l++)
            {
                m = MathF.Max(m, all.GetElement(l));
            }
        }
        else if (!Avx.IsSupported && Vector128.IsHardwareAccelerated && n >= 4)
        {
            Vector128<float> m0 = Vector128.Create(float.NegativeInfinity), m1 = m0;
            for (; i <= n - 8; i += 8)
            {
                m0 = Vector128.MaxNative(m0, Vector128.Load(x + i));
                m1 = Vector128.MaxNative(m1, Vector128.Load(x + i + 4));
            }

            for (; i <= n - 4; i += 4)
            {
                m0 = Vector128.MaxNative(m0, Vector128.Load(x + i));
            }

            Vector128<float> all = Vector128.MaxNative(m0, m1);
            for (int l = 0; l < 4; l++)
            {
                m = MathF.Max(m, all.GetElement(l));
            }
        }

        for (; i < n; i++)
        {
            m = MathF.Max(m, x[i]);
        }

        return m;
    }

    /// <summary>s = Σ exp(x_i − m); when <paramref name="e"/> is not null, also e_i = exp(x_i − m). When
    /// <paramref name="ahead"/> is not null, the n floats there are prefetched into L2 meanwhile (AVX-512 and AVX2; a prefetch never
    /// faults, so they may lie past the end of the data).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpSum(float* x, int n, float m, float* e, float* ahead = null)
    {
        if (Avx512F.IsSupported)
        {
            // The one-read kernel, with the row's max as the reference.
            return ExpSumAgainst(x, n, m, e, null, false, ahead, out _);
        }

        // (128-bit: 8 lanes, so half the block keeps 128 terms a lane.)
        int block = IsAvx2 ? Avx2ExpBlock : Avx2ExpBlock / 2;
        if (n > block)
        {
            // Long rows: blocks summed in double, so the float partial sums never hold more than a block's terms.
            double total = 0;
            for (int start = 0; start < n; start += block)
            {
                total += ExpSum(x + start, Math.Min(block, n - start), m, e == null ? null : e + start, ahead == null ? null : ahead + start);
            }

            return (float)total;
        }

        int i = 0;
        float s = 0;
        if (IsAvx2)
        {
            Vector256<float> vm = Vector256.Create(m);
            Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                // (1024 × 32000, alternated call by call: 0.93–0.94 of the time without; 16384 × 1000: 1.00.)
                if (ahead != null)
                {
                    Sse.Prefetch1(ahead + i);
                }

                if (e == null)
                {
                    // Only summed: the exp for sums.
                    acc0 += ExpForSum(Vector256.Load(x + i) - vm);
                    acc1 += ExpForSum(Vector256.Load(x + i + 8) - vm);
                    continue;
                }

                Vector256<float> e0 = Exp(Vector256.Load(x + i) - vm);
                Vector256<float> e1 = Exp(Vector256.Load(x + i + 8) - vm);
                e0.Store(e + i);
                e1.Store(e + i + 8);
                acc0 += e0;
                acc1 += e1;
            }

            s = Vector256.Sum(acc0 + acc1);
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            // Two exps a step: with four, x86's 16 vector registers spilled in the loop.
            Vector128<float> vm = Vector128.Create(m);
            Vector128<float> acc0 = Vector128<float>.Zero, acc1 = acc0;
            for (; i <= n - 8; i += 8)
            {
                Vector128<float> e0 = Exp(Vector128.Load(x + i) - vm);
                Vector128<float> e1 = Exp(Vector128.Load(x + i + 4) - vm);
                if (e != null)
                {
                    e0.Store(e + i);
                    e1.Store(e + i + 4);
                }

                acc0 += e0;
                acc1 += e1;
            }

            if (i < n && n >= 4)
            {
                // The last 1 to 7 exps in one or two vectors, the second ending at n and overlapping the first or the loop's
                // last (those lanes are stored again, the same values, and left out of the sum): a short row's scalar exps
                // (21 classes: 5 of them) cost as much as its vector ones.
                if (i <= n - 4)
                {
                    Vector128<float> e0 = Exp(Vector128.Load(x + i) - vm);
                    if (e != null)
                    {
                        e0.Store(e + i);
                    }

                    acc0 += e0;
                    i += 4;
                }

                if (i < n)
                {
                    int last = n - 4;
                    Vector128<float> e1 = Exp(Vector128.Load(x + last) - vm);
                    if (e != null)
                    {
                        e1.Store(e + last);
                    }

                    acc1 += e1 & Vector128.GreaterThanOrEqual(Vector128<int>.Indices, Vector128.Create(i - last)).AsSingle();
                    i = n;
                }
            }

            s = Vector128.Sum(acc0 + acc1);
        }

        for (; i < n; i++)
        {
            float v = MathF.Exp(x[i] - m);
            if (e != null)
            {
                e[i] = v;
            }

            s += v;
        }

        return s;
    }

    /// <summary>dst_i = a·exp(x_i − m) + b·w_i (or + b when <paramref name="w"/> is null), the exp recomputed:
    /// for rows too long to keep their exps in a cache-resident scratch row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ExpAffine(float* x, int n, float m, float a, float b, float* w, float* dst, bool nonTemporal) =>
        Affine(x, n, m, recompute: true, a, b, w, dst, nonTemporal);

    /// <summary>dst_i = a·e_i + b·w_i (or + b when <paramref name="w"/> is null).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Affine(float* e, int n, float a, float b, float* w, float* dst, bool nonTemporal) =>
        Affine(e, n, 0f, recompute: false, a, b, w, dst, nonTemporal);

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Affine(float* src, int n, float m, bool recompute, float a, float b, float* w, float* dst, bool nonTemporal)
    {
        int i = 0;
        // Non-temporal stores skip the read-for-ownership of each gradient line: ~30% less traffic when the gradient
        // will not be read back soon (measured: 39.5 ms → 27.9 ms for 524 MB read-scale-write). From the first line on;
        // without AVX-512, two 32-byte stores a line.
        nonTemporal &= Avx512F.IsSupported || IsAvx2;
        for (; nonTemporal && i < n && ((nuint)(dst + i) & 63) != 0; i++)
        {
            dst[i] = Scalar(src[i], m, recompute, a, b, w == null ? 1f : w[i]);
        }

        if (Avx512F.IsSupported)
        {
            Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b), vm = Vector512.Create(m);
            for (; i <= n - 16; i += 16)
            {
                Vector512<float> v = Vector512.Load(src + i);
                if (recompute)
                {
                    v = Exp(v - vm);
                }

                Vector512<float> add = w == null ? vb : Vector512.Load(w + i) * vb;
                Vector512<float> r = Avx512F.FusedMultiplyAdd(v, va, add);
                if (nonTemporal)
                {
                    Avx512F.StoreAlignedNonTemporal(dst + i, r);
                }
                else
                {
                    r.Store(dst + i);
                }
            }
        }
        else if (IsAvx2)
        {
            i = nonTemporal
                ? AffineSteps256<Set>(src, i, n, m, recompute, a, b, w, dst)
                : AffineSteps256<Clear>(src, i, n, m, recompute, a, b, w, dst);
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            Vector128<float> va = Vector128.Create(a), vb = Vector128.Create(b), vm = Vector128.Create(m);
            for (; i <= n - 4; i += 4)
            {
                Vector128<float> v = Vector128.Load(src + i);
                if (recompute)
                {
                    v = Exp(v - vm);
                }

                Vector128<float> add = w == null ? vb : Vector128.Load(w + i) * vb;
                Vector128.MultiplyAddEstimate(v, va, add).Store(dst + i);
            }
        }

        for (; i < n; i++)
        {
            dst[i] = Scalar(src[i], m, recompute, a, b, w == null ? 1f : w[i]);
        }
    }

    /// <summary>The 256-bit steps of <see cref="ProbabilityGradient{T}(float*, T*, int, float, float, float*, float, float, T*, bool)"/> (float)
    /// from <paramref name="i"/>, stored past the cache with <typeparamref name="TNonTemporal"/> (dst + i on a line).
    /// Returns where they stopped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ProbabilitySteps256<TNonTemporal>(float* e, float* t, int i, int n, float a, float g, float* w, float keep, float add, float* dst)
        where TNonTemporal : struct, IFlag
    {
        Vector256<float> va = Vector256.Create(a), vg = Vector256.Create(g), vk = Vector256.Create(keep), vadd = Vector256.Create(add);
        for (; i <= n - 8; i += 8)
        {
            Vector256<float> u = Vector256.Load(t + i) * vk + vadd;
            if (w != null)
            {
                u *= Vector256.Load(w + i);
            }

            Store256<TNonTemporal>(Vector256.Load(e + i) * va - u * vg, dst + i);
        }

        return i;
    }

    /// <summary>The 256-bit steps of <see cref="Affine(float*, int, float, bool, float, float, float*, float*, bool)"/>
    /// from <paramref name="i"/>, stored past the cache with <typeparamref name="TNonTemporal"/> (dst + i on a line),
    /// compiled apart: the store chosen in the loop, as the 512-bit steps choose it, made the plain steps slower (float32
    /// 16384 × 1000 forward+backward with AVX-512 off, one thread: 12.3–15.1 against 10.4–13.2 ms). Returns where they
    /// stopped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int AffineSteps256<TNonTemporal>(float* src, int i, int n, float m, bool recompute, float a, float b, float* w, float* dst)
        where TNonTemporal : struct, IFlag
    {
        Vector256<float> va = Vector256.Create(a), vb = Vector256.Create(b), vm = Vector256.Create(m);
        for (; i <= n - 8; i += 8)
        {
            Vector256<float> v = Vector256.Load(src + i);
            if (recompute)
            {
                v = Exp(v - vm);
            }

            Vector256<float> add = w == null ? vb : Vector256.Load(w + i) * vb;
            Store256<TNonTemporal>(Fma.MultiplyAdd(v, va, add), dst + i);
        }

        return i;
    }

    /// <summary>Stores <paramref name="v"/> at <paramref name="p"/>: past the cache with <typeparamref name="TNonTemporal"/>
    /// (p 32-byte aligned), plainly without.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256<TNonTemporal>(Vector256<float> v, float* p)
        where TNonTemporal : struct, IFlag
    {
        if (TNonTemporal.On)
        {
            Avx.StoreAlignedNonTemporal(p, v);
        }
        else
        {
            v.Store(p);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Scalar(float v, float m, bool recompute, float a, float b, float w) =>
        MathF.FusedMultiplyAdd(recompute ? MathF.Exp(v - m) : v, a, w * b);

    /// <summary>q = Σ u_i and Σ u_i·(x_i − m), summed over differences so large logits do not cancel, 8 lanes at a time,
    /// in blocks of <see cref="TargetSumsBlock"/> added in double. For probability targets u_i = w_i·((1 − ε)·t_i + ε/C) (without AVX-512, and
    /// for infinite targets; <see cref="ProbabilityStats"/> is the one-read path); with <paramref name="t"/> null,
    /// u_i = w_i, the smoothing term Σ w_i·(x_i − m) of class targets. w_i = 1 when <paramref name="w"/> is null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float TargetSums(float* x, float* t, int n, float m, float* w, float keep, float add, out float q)
    {
        if (n > TargetSumsBlock)
        {
            double totalQ = 0, totalUd = 0;
            for (int start = 0; start < n; start += TargetSumsBlock)
            {
                totalUd += TargetSums(x + start, t == null ? null : t + start, Math.Min(TargetSumsBlock, n - start), m, w == null ? null : w + start,
                    keep, add, out float qb);
                totalQ += qb;
            }

            q = (float)totalQ;
            return (float)totalUd;
        }

        int i = 0;
        float sq = 0, sud = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> vm = Vector256.Create(m), vk = Vector256.Create(keep), va = Vector256.Create(add);
            Vector256<float> accQ = Vector256<float>.Zero, accUd = Vector256<float>.Zero;
            for (; i <= n - 8; i += 8)
            {
                Vector256<float> u = t == null ? Vector256<float>.One : Vector256.Load(t + i) * vk + va;
                if (w != null)
                {
                    u *= Vector256.Load(w + i);
                }

                accQ += u;
                accUd += u * (Vector256.Load(x + i) - vm);
            }

            sq = Vector256.Sum(accQ);
            sud = Vector256.Sum(accUd);
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            // Two accumulators each: 8 lanes, as the 256-bit form's one.
            Vector128<float> vm = Vector128.Create(m), vk = Vector128.Create(keep), va = Vector128.Create(add);
            Vector128<float> accQ0 = Vector128<float>.Zero, accQ1 = accQ0, accUd0 = accQ0, accUd1 = accQ0;
            for (; i <= n - 8; i += 8)
            {
                Vector128<float> u0 = t == null ? Vector128<float>.One : Vector128.Load(t + i) * vk + va;
                Vector128<float> u1 = t == null ? Vector128<float>.One : Vector128.Load(t + i + 4) * vk + va;
                if (w != null)
                {
                    u0 *= Vector128.Load(w + i);
                    u1 *= Vector128.Load(w + i + 4);
                }

                accQ0 += u0;
                accQ1 += u1;
                accUd0 += u0 * (Vector128.Load(x + i) - vm);
                accUd1 += u1 * (Vector128.Load(x + i + 4) - vm);
            }

            sq = Vector128.Sum(accQ0 + accQ1);
            sud = Vector128.Sum(accUd0 + accUd1);
        }

        for (; i < n; i++)
        {
            float u = (t == null ? 1f : t[i] * keep + add) * (w == null ? 1f : w[i]);
            sq += u;
            sud += u * (x[i] - m);
        }

        q = sq;
        return sud;
    }

    /// <summary>Probability targets in one read of the row (AVX-512): s = Σ exp(x_i − r), with <paramref name="e"/>
    /// e_i = exp(x_i − r) too, q = Σ u_i and ud = Σ u_i·(x_i − r), u_i = w_i·((1 − ε)·t_i + ε/C) (w_i = 1 when
    /// <paramref name="w"/> is null). Callers pass the row's max for r; long rows are summed in blocks added in
    /// double. With <paramref name="next"/> (the next row; null for none, and then <paramref name="nextMax"/> is NaN),
    /// <paramref name="nextMax"/> is the max of its n floats as <see cref="Max"/> takes it (a NaN may be dropped), loaded
    /// in place of the next row's prefetches: its reference without a pass of its own, which waits on memory. float16 and
    /// bfloat16 logits and targets are widened exactly as they are loaded (<see cref="LowRows.Load{T}"/>; no next row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ProbabilityStats<T>(T* x, T* t, int n, float r, float* w, float keep, float add, float* e, float* next,
        out float q, out float ud, out float nextMax)
        where T : unmanaged
    {
        Debug.Assert(typeof(T) == typeof(float) || next == null, "the next row's max is taken for float rows only");
        if (n > TargetBlock)
        {
            double total = 0, totalQ = 0, totalUd = 0;
            nextMax = float.NegativeInfinity;
            for (int start = 0; start < n; start += TargetBlock)
            {
                total += ProbabilityStats(x + start, t + start, Math.Min(TargetBlock, n - start), r, w == null ? null : w + start,
                    keep, add, e == null ? null : e + start, next == null ? null : next + start, out float qb, out float udb, out float mb);
                totalQ += qb;
                totalUd += udb;
                nextMax = MathF.Max(nextMax, mb);
            }

            q = (float)totalQ;
            ud = (float)totalUd;
            return (float)total;
        }

        Vector512<float> vr = Vector512.Create(r), vk = Vector512.Create(keep), va = Vector512.Create(add);
        Vector512<float> s0 = Vector512<float>.Zero, s1 = s0, q0 = s0, q1 = s0, ud0 = s0, ud1 = s0;
        Vector512<float> nf = Vector512.Create(float.NegativeInfinity);
        int i = 0;
        for (; i <= n - 32; i += 32)
        {
            // What comes next (the next block, or the next row where rows lie one after another) into L2; the next row
            // is loaded for its max.
            if (next != null)
            {
                nf = Avx512F.Max(nf, Avx512F.Max(Vector512.Load(next + i), Vector512.Load(next + i + 16)));
            }
            else
            {
                Sse.Prefetch1(x + n + i);
                Sse.Prefetch1(x + n + i + 16);
            }

            Sse.Prefetch1(t + n + i);
            Sse.Prefetch1(t + n + i + 16);
            Vector512<float> x0 = LowRows.Load(x + i), x1 = LowRows.Load(x + i + 16);
            Vector512<float> d0 = x0 - vr, d1 = x1 - vr;
            Vector512<float> e0 = Exp(d0), e1 = Exp(d1);
            if (e != null)
            {
                e0.Store(e + i);
                e1.Store(e + i + 16);
            }

            Vector512<float> u0 = Avx512F.FusedMultiplyAdd(LowRows.Load(t + i), vk, va);
            Vector512<float> u1 = Avx512F.FusedMultiplyAdd(LowRows.Load(t + i + 16), vk, va);
            if (w != null)
            {
                u0 *= Vector512.Load(w + i);
                u1 *= Vector512.Load(w + i + 16);
            }

            s0 += e0;
            s1 += e1;
            q0 += u0;
            q1 += u1;
            ud0 = Avx512F.FusedMultiplyAdd(u0, d0, ud0);
            ud1 = Avx512F.FusedMultiplyAdd(u1, d1, ud1);
        }

        int rest = i;   // where the next row's max steps stopped

        // The rest, 16 at a time; the last vector may start before i (n ≥ 16), its lanes already done kept out of the
        // sums, or, in a row shorter than 16, is read through a buffer.
        float* buffer = stackalloc float[48];
        for (; i < n; i += 16)
        {
            int at = Math.Min(i, n - 16);
            T* xs = x + at, ts = t + at;
            float* ws = w == null ? null : w + at;
            bool buffered = at < 0;
            if (buffered)
            {
                at = 0;
                new Span<float>(buffer, 48).Fill(r);
                new Span<float>(buffer + 16, 32).Clear();
                for (int k = 0; k < n; k++)
                {
                    buffer[k] = Elements.ToCompute<T, float>(x[k]);
                    buffer[16 + k] = Elements.ToCompute<T, float>(t[k]);
                }

                if (w != null)
                {
                    new ReadOnlySpan<float>(w, n).CopyTo(new Span<float>(buffer + 32, 16));
                }

                ws = w == null ? null : buffer + 32;
            }

            // Lanes from i − at on are new; a short row's lanes past n are not.
            Vector512<int> lane = Vector512<int>.Indices;
            Vector512<float> fresh = (Vector512.GreaterThanOrEqual(lane, Vector512.Create(i - at)) & Vector512.LessThan(lane, Vector512.Create(n - at))).AsSingle();
            Vector512<float> x0 = buffered ? Vector512.Load(buffer) : LowRows.Load(xs);
            Vector512<float> d0 = x0 - vr;
            Vector512<float> e0 = Exp(d0);
            Vector512<float> u0 = Avx512F.FusedMultiplyAdd(buffered ? Vector512.Load(buffer + 16) : LowRows.Load(ts), vk, va);
            if (ws != null)
            {
                u0 *= Vector512.Load(ws);
            }

            if (e != null)
            {
                if (buffered)
                {
                    e0.Store(buffer);
                    new ReadOnlySpan<float>(buffer, n).CopyTo(new Span<float>(e, n));
                }
                else
                {
                    e0.Store(e + at);
                }
            }

            s0 += e0 & fresh;
            q0 += u0 & fresh;
            ud0 += (u0 * d0) & fresh;
        }

        nextMax = float.NaN;
        if (next != null)
        {
            // The next row's last n mod 32 (a max does not mind lanes taken twice).
            if (n >= 16)
            {
                nf = Avx512F.Max(nf, Vector512.Load(next + Math.Min(rest, n - 16)));
                nf = Avx512F.Max(nf, Vector512.Load(next + n - 16));
                nextMax = HorizontalMax(nf);
            }
            else
            {
                nextMax = ScalarMax(next, n);
            }
        }

        q = Vector512.Sum(q0 + q1);
        ud = Vector512.Sum(ud0 + ud1);
        return Vector512.Sum(s0 + s1);
    }

    /// <summary>dst_i = a·e_i − g·u_i with u_i = w_i·((1 − ε)·t_i + ε/C): the gradient for probability targets; with
    /// <paramref name="nonTemporal"/> (AVX-512 or AVX2), stored past the cache from the first 64-byte boundary on. float16
    /// and bfloat16 (AVX-512 only): the targets widened as they are loaded, each gradient the float one rounded once,
    /// streamed from the first 32-byte boundary on (one 32-byte store per 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ProbabilityGradient<T>(float* e, T* t, int n, float a, float g, float* w, float keep, float add, T* dst, bool nonTemporal)
        where T : unmanaged
    {
        Debug.Assert(typeof(T) == typeof(float) || LowRows.IsSupported<T>(), "float, or float16 and bfloat16 with AVX-512");
        int i = 0;
        // Streamed from the first line on: AVX-512, or AVX2 with two 32-byte stores a line.
        nonTemporal &= (Vector512.IsHardwareAccelerated ? Avx512F.IsSupported : Vector256.IsHardwareAccelerated && Avx.IsSupported)
            && ((nuint)dst & (nuint)(sizeof(T) - 1)) == 0;
        nuint line = typeof(T) == typeof(float) ? 63u : 31u;
        for (; nonTemporal && i < n && ((nuint)(dst + i) & line) != 0; i++)
        {
            dst[i] = ProbabilityGradient(e, t, w, i, a, g, keep, add);
        }

        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> va = Vector512.Create(a), vg = Vector512.Create(g), vk = Vector512.Create(keep), vadd = Vector512.Create(add);
            for (; i <= n - 16; i += 16)
            {
                Vector512<float> u = LowRows.Load(t + i) * vk + vadd;
                if (w != null)
                {
                    u *= Vector512.Load(w + i);
                }

                Vector512<float> r = Vector512.Load(e + i) * va - u * vg;
                if (typeof(T) != typeof(float))
                {
                    Vector256<ushort> bits = LowRows.Narrow<T>(r);
                    if (nonTemporal)
                    {
                        Avx.StoreAlignedNonTemporal((ushort*)(dst + i), bits);
                    }
                    else
                    {
                        bits.Store((ushort*)(dst + i));
                    }
                }
                else if (nonTemporal)
                {
                    Avx512F.StoreAlignedNonTemporal((float*)dst + i, r);
                }
                else
                {
                    r.Store((float*)dst + i);
                }
            }
        }
        else if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated)
        {
            i = nonTemporal
                ? ProbabilitySteps256<Set>(e, (float*)t, i, n, a, g, w, keep, add, (float*)dst)
                : ProbabilitySteps256<Clear>(e, (float*)t, i, n, a, g, w, keep, add, (float*)dst);
        }
        else if (typeof(T) == typeof(float) && Vector128.IsHardwareAccelerated)
        {
            Vector128<float> va = Vector128.Create(a), vg = Vector128.Create(g), vk = Vector128.Create(keep), vadd = Vector128.Create(add);
            for (; i <= n - 4; i += 4)
            {
                Vector128<float> u = Vector128.Load((float*)t + i) * vk + vadd;
                if (w != null)
                {
                    u *= Vector128.Load(w + i);
                }

                (Vector128.Load(e + i) * va - u * vg).Store((float*)dst + i);
            }
        }

        for (; i < n; i++)
        {
            dst[i] = ProbabilityGradient(e, t, w, i, a, g, keep, add);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T ProbabilityGradient<T>(float* e, T* t, float* w, int i, float a, float g, float keep, float add)
        where T : unmanaged =>
        Elements.FromCompute<T, float>(e[i] * a - (Elements.ToCompute<T, float>(t[i]) * keep + add) * (w == null ? 1f : w[i]) * g);

    /// <summary>Terms per block of the long sums of <see cref="ExpSum"/> and <see cref="ExpSumAgainst{T}(T*, int, float, float*, float*, bool, float*, out float)"/>: a block's float
    /// partial sums (16 to 64 of them) each hold at most a few hundred terms; blocks are added in double.</summary>
    private const int SumBlock = 16384;

    /// <summary>Terms per block of <see cref="ProbabilityStats"/>' sums, added in double (32 lanes: 32 terms each at
    /// most). Summed in float over 5000 classes, q = Σ u with u = 1/C (every rounding leaning the same way) and
    /// Σ u·(x − m) came out 4e-5 off a loss of 9 (libtorch: 1e-6).</summary>
    private const int TargetBlock = 1024;

    /// <summary>The same for <see cref="TargetSums"/> (8 lanes: 16 terms each at most); with 128 terms a lane, the loss
    /// above was still 6e-6 off.</summary>
    private const int TargetSumsBlock = 128;

    /// <summary>Terms per block of <see cref="ExpSum"/> without AVX-512, added in double (16 lanes: 128 terms each at
    /// most; over 5000 classes in one block, a softmax came out 1.5e-6 off).</summary>
    private const int Avx2ExpBlock = 2048;

    /// <summary>Chunk length of <see cref="SumExpOneRead"/>: 16 KiB of floats, a quarter of L1.</summary>
    internal const int LseChunk = 4096;

    /// <summary>The row's max m and s = Σ exp(x_i − m), reading the row from memory once, chunk by chunk (float, and on
    /// AVX-512 float16 or bfloat16), so that log Σ exp x_i = m + log s: each chunk's max (<see cref="MaxOf"/>), then its
    /// exps against the running max, in L1, and the running sum rescaled when the max moves up. One exp per logit plus
    /// two per chunk; the next chunk is prefetched meanwhile. Float16 and bfloat16 without AVX-512 (AVX2 and FMA,
    /// <see cref="LowRows.IsSupported256{T}"/>) need <paramref name="chunk"/>, min(n, <see cref="LseChunk"/>) floats: each chunk
    /// is widened there with its max (<see cref="LowRows.WidenMax256"/>) and its exps taken as float32's, so that m and s
    /// are the float32 kernel's for the widened row. Returns false without a result when the max is not finite (NaN,
    /// +∞, or all −∞), a NaN shows in a sum, or the element type is not supported here.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool SumExpOneRead<T>(T* x, int n, out float m, out float s, float* chunk = null)
        where T : unmanaged
    {
        m = float.NegativeInfinity;
        s = 0f;
        bool widened = !Avx512F.IsSupported && typeof(T) != typeof(float);
        if (widened && (chunk == null || !LowRows.IsSupported256<T>()))
        {
            return false;
        }

        for (int start = 0; start < n; start += LseChunk)
        {
            int len = Math.Min(LseChunk, n - start);
            float* ahead = (float*)(x + start + LseChunk);
            float r = widened ? LowRows.WidenMax256(x + start, chunk, len) : MaxOf(x + start, len);
            if (float.IsNegativeInfinity(r))
            {
                continue;
            }

            if (!float.IsFinite(r))
            {
                return false;   // a NaN or +∞ in the chunk
            }

            float next = MathF.Max(m, r);
            float sc = Avx512F.IsSupported
                ? ExpSumAgainst(x + start, len, next, null, null, false, ahead, out _)
                : ExpSum(widened ? chunk : (float*)x + start, len, next, null, ahead);
            if (float.IsNaN(sc))
            {
                return false;   // a NaN the max did not show
            }

            s = s * MathF.Exp(m - next) + sc;
            m = next;
        }

        return float.IsFinite(m);
    }

    private static float ScalarMax<T>(T* x, int n)
        where T : unmanaged
    {
        float m = float.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            m = MathF.Max(m, Elements.ToCompute<T, float>(x[i]));
        }

        return m;
    }

    /// <summary>s = Σ exp(x_i − r) in one read (AVX-512); with <paramref name="e"/>, e_i = exp(x_i − r) too, and with
    /// <paramref name="smoothing"/>, sumWd = Σ w_i·(x_i − r) (w_i = 1 when <paramref name="w"/> is null). Callers pass the
    /// row's max for r (<see cref="MaxOf"/>), or for a loss alone the target's logit: then an x_i more than 88 above r (or
    /// +∞) makes the sum +∞ and a NaN makes it NaN, and a sum not below <see cref="SumLimit"/> sends the row to the max.
    /// <paramref name="ahead"/> (n floats' worth, may be null) is prefetched into L2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpSumAgainst<T>(T* x, int n, float r, float* e, float* w, bool smoothing, float* ahead, out float sumWd)
        where T : unmanaged => ExpSumAgainst(x, n, r, e, w, smoothing, ahead, null, out sumWd, out _);

    /// <summary><see cref="ExpSumAgainst{T}(T*, int, float, float*, float*, bool, float*, out float)"/> that also takes
    /// the max of the n elements at <paramref name="next"/> (the next row; null for none), as <see cref="MaxOf"/> takes it,
    /// with loads in place of the prefetches: the next row's reference without a pass of its own (which waited on L2).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpSumAgainst<T>(T* x, int n, float r, float* e, float* w, bool smoothing, float* ahead, T* next, out float sumWd, out float nextMax)
        where T : unmanaged
    {
        if (n > SumBlock)
        {
            // Long rows: blocks summed in double, so the float partial sums never hold more than a block's terms.
            double total = 0, totalWd = 0;
            nextMax = float.NegativeInfinity;
            for (int start = 0; start < n; start += SumBlock)
            {
                total += ExpSumAgainst(x + start, Math.Min(SumBlock, n - start), r, e == null ? null : e + start, w == null ? null : w + start,
                    smoothing, ahead == null ? null : (float*)((T*)ahead + start), next == null ? null : next + start, out float wdb, out float mb);
                totalWd += wdb;
                nextMax = MathF.Max(nextMax, mb);
            }

            sumWd = (float)totalWd;
            return (float)total;
        }

        if (next != null)
        {
            ahead = null;   // the next row's loads are its prefetches
        }

        // Only sums, with no weights in them: the 64-element steps may read 16-bit elements in another order.
        bool sumsAlone = e == null && (w == null || !smoothing);
        if (typeof(T) == typeof(Half))
        {
            // float16 is first widened without its infinity and NaN case (4 instructions fewer per 16 elements); those
            // come out finite but at least 65536 in magnitude, beyond every finite half, and a block with one is redone.
            // Sums alone against a reference below HalfUnorderedLimit are read in the other order.
            float s = sumsAlone && MathF.Abs(r) < HalfUnorderedLimit
                ? ExpSumBlock<T, LowRows.HalfBitsLoad, Set>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out bool misread, out nextMax)
                : ExpSumBlock<T, LowRows.HalfBitsLoad, Clear>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out misread, out nextMax);
            if (!misread)
            {
                return s;
            }
        }

        bool unordered = typeof(T) == typeof(BFloat16) && sumsAlone;
        if ((typeof(T) == typeof(float) || typeof(T) == typeof(BFloat16)) && MathF.Abs(r) < LowRows.UnclampedLoad.Limit)
        {
            // Steps whose logits all lie below 2^17 in magnitude take the exp without its clamp.
            return unordered
                ? ExpSumBlock<T, LowRows.UnclampedLoad, Set>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out _, out nextMax)
                : ExpSumBlock<T, LowRows.UnclampedLoad, Clear>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out _, out nextMax);
        }

        if (unordered)
        {
            // Only sums are taken, so the 64-element steps may read bfloat16 in another order.
            return ExpSumBlock<T, LowRows.ExactLoad, Set>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out _, out nextMax);
        }

        return ExpSumBlock<T, LowRows.ExactLoad, Clear>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out _, out nextMax);
    }

    /// <summary>A reference below this in magnitude lets float16 sums skip the magnitude check of their 64-element steps
    /// (<see cref="LowRows.LoadHalfUnordered"/>): a +∞ or positive NaN, read downscaled as 65536 or more, is then more
    /// than 32768 above it, its exp +∞ and the sum +∞, which every caller takes to the max (a −∞, read as −65536, gives
    /// the exp 0 as it should); only a negative NaN, whose exp would be 0, needs its bits checked.</summary>
    internal const float HalfUnorderedLimit = 32768f;

    /// <summary>float16's −∞; every bit pattern above it, as an unsigned number, is a negative NaN.</summary>
    private const ushort HalfNegativeInfinityBits = 0xFC00;

    /// <summary>One block of <see cref="ExpSumAgainst{T}(T*, int, float, float*, float*, bool, float*, out float)"/>. Loaded through <see cref="LowRows.HalfBitsLoad"/>, it tracks the
    /// largest magnitude (one vrangeps), and <paramref name="misread"/> says that the block holds a float16 infinity or
    /// NaN, whose results are then wrong: a value at least 65536 in magnitude. With <typeparamref name="TUnordered"/>
    /// (no exps kept, no weights in the sums) the 64-element steps read their elements in another order
    /// (<see cref="LowRows.LoadBFloat16Unordered"/>, <see cref="LowRows.LoadHalfUnordered"/>: float16 then flags only a
    /// negative NaN there, see <see cref="HalfUnorderedLimit"/>).</summary>
    /// <remarks>Where the exps are not kept (<paramref name="e"/> null), they are only summed, and take
    /// <see cref="ExpForSum(Vector512{float})"/>.</remarks>
    private static float ExpSumBlock<T, TLoad, TUnordered>(T* x, int n, float r, float* e, float* w, bool smoothing, float* ahead, T* next,
        out float sumWd, out bool misread, out float nextMax)
        where T : unmanaged
        where TLoad : struct, LowRows.IRowLoad
        where TUnordered : struct, IFlag =>
        e == null
            ? ExpSumBlock<T, TLoad, TUnordered, Set>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out misread, out nextMax)
            : ExpSumBlock<T, TLoad, TUnordered, Clear>(x, n, r, e, w, smoothing, ahead, next, out sumWd, out misread, out nextMax);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpSumBlock<T, TLoad, TUnordered, TSumOnly>(T* x, int n, float r, float* e, float* w, bool smoothing, float* ahead, T* next,
        out float sumWd, out bool misread, out float nextMax)
        where T : unmanaged
        where TLoad : struct, LowRows.IRowLoad
        where TUnordered : struct, IFlag
        where TSumOnly : struct, IFlag
    {
        // e null: the exps are only summed (TSumOnly), and take the exp for sums; else they are kept, and stored.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> ClampedExp(Vector512<float> d) => TSumOnly.On ? ExpForSum(d) : Exp(d);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector512<float> LoadExp(Vector512<float> d) => TSumOnly.On ? TLoad.SumExp(d) : TLoad.Exp(d);

        Debug.Assert(TSumOnly.On == (e == null), "the exps are summed alone exactly when none are kept");
        // The next row's max (when next is not null): float by vmaxps, 16-bit by the signed max and unsigned min of its
        // bits (MaxOf).
        Vector512<float> nf = Vector512.Create(float.NegativeInfinity);
        Vector512<short> nHigh = Vector512.Create(short.MinValue);
        Vector512<ushort> nLow = Vector512.Create(ushort.MaxValue);
        int i = 0;
        Vector512<float> vr = Vector512.Create(r);
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero, acc3 = Vector512<float>.Zero;
        Vector512<float> sw = Vector512<float>.Zero;
        Vector512<float> negR = -vr;
        bool downscaled = typeof(TLoad) == typeof(LowRows.HalfBitsLoad);
        Vector512<float> a0 = Vector512<float>.Zero, a1 = a0;
        Vector512<ushort> halfBits = Vector512<ushort>.Zero;   // float16 read unordered: the raw bits' unsigned max
        // Four exps in flight: measured 15% faster than two (0.29 -> 0.25 ns per float on Zen 4).
        for (; i <= n - 64; i += 64)
        {
            if (ahead != null)
            {
                Sse.Prefetch1(ahead + i);
                Sse.Prefetch1(ahead + i + 16);
                Sse.Prefetch1(ahead + i + 32);
                Sse.Prefetch1(ahead + i + 48);
            }

            if (next != null)
            {
                MaxStep(next + i, ref nf, ref nHigh, ref nLow);
            }

            Vector512<float> v0, v1, v2, v3;
            if (TUnordered.On && typeof(T) == typeof(BFloat16))
            {
                LowRows.LoadBFloat16Unordered((ushort*)(x + i), out v0, out v1, out v2, out v3);
            }
            else if (TUnordered.On && typeof(T) == typeof(Half))
            {
                LowRows.LoadHalfUnordered((ushort*)(x + i), out v0, out v1, out v2, out v3, ref halfBits);
            }
            else
            {
                v0 = TLoad.Load(x + i);
                v1 = TLoad.Load(x + i + 16);
                v2 = TLoad.Load(x + i + 32);
                v3 = TLoad.Load(x + i + 48);
            }

            if (downscaled && !TUnordered.On)
            {
                a0 = LargestMagnitude(a0, LargestMagnitude(v0, v2));
                a1 = LargestMagnitude(a1, LargestMagnitude(v1, v3));
            }

            Vector512<float> d0 = TLoad.Minus(v0, negR), d1 = TLoad.Minus(v1, negR), d2 = TLoad.Minus(v2, negR), d3 = TLoad.Minus(v3, negR);

            Vector512<float> e0, e1, e2, e3;
            if (typeof(TLoad) == typeof(LowRows.UnclampedLoad)
                && !Vector512.LessThanAll(LargestMagnitude(LargestMagnitude(v0, v1), LargestMagnitude(v2, v3)), Vector512.Create(LowRows.UnclampedLoad.Limit)))
            {
                // An infinity or a logit past 2^17 in this step: the clamped exp (a NaN gives NaN either way).
                (e0, e1, e2, e3) = (ClampedExp(d0), ClampedExp(d1), ClampedExp(d2), ClampedExp(d3));
            }
            else
            {
                (e0, e1, e2, e3) = (LoadExp(d0), LoadExp(d1), LoadExp(d2), LoadExp(d3));
            }

            if (!TSumOnly.On)
            {
                e0.Store(e + i);
                e1.Store(e + i + 16);
                e2.Store(e + i + 32);
                e3.Store(e + i + 48);
            }

            if (smoothing)
            {
                if (w == null)
                {
                    sw += (d0 + d1) + (d2 + d3);
                }
                else
                {
                    sw = Avx512F.FusedMultiplyAdd(d0, Vector512.Load(w + i), sw);
                    sw = Avx512F.FusedMultiplyAdd(d1, Vector512.Load(w + i + 16), sw);
                    sw = Avx512F.FusedMultiplyAdd(d2, Vector512.Load(w + i + 32), sw);
                    sw = Avx512F.FusedMultiplyAdd(d3, Vector512.Load(w + i + 48), sw);
                }
            }

            acc0 += e0;
            acc1 += e1;
            acc2 += e2;
            acc3 += e3;
        }

        acc0 += acc2;
        acc1 += acc3;
        if (next != null && n >= 64 && i < n)
        {
            // The next row's last n mod 64: its last 64 again (a max does not mind the overlap).
            MaxStep(next + n - 64, ref nf, ref nHigh, ref nLow);
        }

        for (; i < n && n >= 16; i += 16)
        {
            // The last n mod 16: the last 16 elements again, the lanes already done kept out of the sums (their exps
            // are stored a second time, the same bits; the max does not mind them).
            Vector512<float> fresh = Vector512<float>.AllBitsSet;
            if (i > n - 16)
            {
                fresh = Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(i - (n - 16))).AsSingle();
                i = n - 16;
            }

            if (next != null && n < 64)
            {
                MaxStep32(next + i, 0, ref nf, ref nf, ref nHigh, ref nLow);
            }

            Vector512<float> v0 = TLoad.Load(x + i);
            if (downscaled)
            {
                a0 = LargestMagnitude(a0, v0);
            }

            Vector512<float> d0 = TLoad.Minus(v0, negR);

            // (The unclamped exp only in the 64-element steps, which check for it.)
            Vector512<float> e0 = typeof(TLoad) == typeof(LowRows.UnclampedLoad) ? ClampedExp(d0) : LoadExp(d0);
            if (!TSumOnly.On)
            {
                e0.Store(e + i);
            }

            if (smoothing)
            {
                sw = Vector512.ConditionalSelect(fresh, w == null ? sw + d0 : Avx512F.FusedMultiplyAdd(d0, Vector512.Load(w + i), sw), sw);
            }

            acc0 += e0 & fresh;
        }

        float nextTail = float.NegativeInfinity;
        if (i < n)
        {
            // Fewer than 16 in all: one vector through a buffer padded with −∞ (exp 0).
            int rest = n - i;
            if (next != null)
            {
                nextTail = ScalarMax(next + i, rest);
            }

            float* buffer = stackalloc float[16];
            Vector512.Create(float.NegativeInfinity).Store(buffer);
            for (int l = 0; l < rest; l++)
            {
                buffer[l] = Elements.ToCompute<T, float>(x[i + l]);
            }

            Vector512<float> v0 = Vector512.Load(buffer);
            Vector512<float> d0 = v0 - vr;
            Vector512<float> e0 = ClampedExp(d0);
            acc0 += e0;
            if (!TSumOnly.On)
            {
                e0.Store(buffer);
                for (int l = 0; l < rest; l++)
                {
                    e[i + l] = buffer[l];
                }
            }

            if (smoothing)
            {
                for (int l = 0; l < rest; l++)
                {
                    buffer[l] = d0.GetElement(l) * (w == null ? 1f : w[i + l]);
                }

                for (int l = rest; l < 16; l++)
                {
                    buffer[l] = 0f;
                }

                sw += Vector512.Load(buffer);
            }
        }

        sumWd = smoothing ? Vector512.Sum(sw) : 0f;
        // (The tail, read exactly, holds no misread value.)
        misread = downscaled && (HorizontalMax(Avx512F.Max(a0, a1)) * TLoad.Scale >= HalfVectors.InfinityAsSingle
            || (TUnordered.On && (ushort)~MinAcross(~halfBits) > HalfNegativeInfinityBits));   // the unsigned max
        nextMax = next == null ? float.NaN
            : n < 16 ? nextTail
            : MathF.Max(nextTail, sizeof(T) == sizeof(float) ? HorizontalMax(nf) : FromBits<T>(MaxAcross(nHigh), MinAcross(nLow)));
        return Vector512.Sum(acc0 + acc1);
    }

    /// <summary>64 elements from <paramref name="p"/> into a running max (<see cref="MaxStep32"/> twice).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaxStep<T>(T* p, ref Vector512<float> nf, ref Vector512<short> nHigh, ref Vector512<ushort> nLow)
        where T : unmanaged
    {
        MaxStep32(p, 16, ref nf, ref nf, ref nHigh, ref nLow);
        MaxStep32(p + 32, 16, ref nf, ref nf, ref nHigh, ref nLow);
    }

    /// <summary>16 elements from <paramref name="p"/> and 16 from p + <paramref name="offset"/> (16: one run of 32; 0: the
    /// same 16 twice, where the next 16 may lie past the data) into a running max: float by vmaxps into
    /// <paramref name="a"/> and <paramref name="b"/>; float16 and bfloat16 as the signed max and the unsigned min of their
    /// bits (<see cref="MaxOf"/>) into <paramref name="high"/> and <paramref name="low"/>, 32 lanes wide. The rows'
    /// next-row max and the K-dim tiles' max over the classes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void MaxStep32<T>(T* p, long offset, ref Vector512<float> a, ref Vector512<float> b, ref Vector512<short> high, ref Vector512<ushort> low)
        where T : unmanaged
    {
        if (sizeof(T) == sizeof(float))
        {
            a = Avx512F.Max(a, Vector512.Load((float*)p));
            b = Avx512F.Max(b, Vector512.Load((float*)(p + offset)));
        }
        else
        {
            Vector512<ushort> bits = offset == 16 ? Vector512.Load((ushort*)p) : Vector512.Create(Vector256.Load((ushort*)p), Vector256.Load((ushort*)p));
            high = Vector512.Max(high, bits.AsInt16());
            low = Vector512.Min(low, bits);
        }
    }

    /// <summary>The max of float16 or bfloat16 values from the signed max and the unsigned min of their bits (see
    /// <see cref="MaxOf"/>).</summary>
    private static float FromBits<T>(short high, ushort low)
        where T : unmanaged =>
        Elements.ToCompute<T, float>(Unsafe.BitCast<ushort, T>(high >= 0 ? (ushort)high : low));

    /// <summary>Sums from <see cref="ExpSumAgainst{T}(T*, int, float, float*, float*, bool, float*, out float)"/> at or above this (or NaN) are not used as they are: +∞ or a NaN
    /// in the row, an exp that overflowed, or a sum too large to merge with others (2^100, about e^69.3).</summary>
    public const float SumLimit = 1.2676506e30f;

    /// <summary>max x_i, the reference the one-read passes take their exps against (as PyTorch's log-softmax does: x − max
    /// is exact near the max, where the large terms are). A NaN may be dropped (callers see it in a sum), or be the
    /// result, as may +∞.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float MaxOf<T>(T* x, int n)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return Max((float*)x, n);
        }

        int i = 0;
        float m = float.NegativeInfinity;
        if (LowRows.IsSupported<T>() && n >= 32)
        {
            // float16 and bfloat16 are sign and magnitude: non-negative values order as their bits do as signed 16-bit
            // integers, and above every negative one; among negative values the greatest has the least bits as unsigned
            // integers. So vpmaxsw and vpminuw over the raw bits, one instruction per 16 elements, give the max: the
            // signed max where it is non-negative, the unsigned min otherwise. (A positive NaN or +∞ comes out as such.)
            Vector512<float> unused = default;
            Vector512<short> high = Vector512.Create(short.MinValue);
            Vector512<ushort> low = Vector512.Create(ushort.MaxValue);
            for (; i <= n - 32; i += 32)
            {
                MaxStep32(x + i, 16, ref unused, ref unused, ref high, ref low);
            }

            m = FromBits<T>(MaxAcross(high), MinAcross(low));
        }

        return MathF.Max(m, ScalarMax(x + i, n - i));
    }

    /// <summary>The greatest of 32 signed 16-bit lanes: 32767 − the least of 32767 − v as unsigned (one phminposuw).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static short MaxAcross(Vector512<short> v) =>
        (short)(short.MaxValue - MinAcross((Vector512.Create(short.MaxValue) - v).AsUInt16()));

    /// <summary>The least of 32 unsigned 16-bit lanes: two halvings, then phminposuw.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort MinAcross(Vector512<ushort> v)
    {
        Vector256<ushort> h = Vector256.Min(v.GetLower(), v.GetUpper());
        return Sse41.MinHorizontal(Vector128.Min(h.GetLower(), h.GetUpper())).GetElement(0);
    }

    /// <summary>max(|a|, |b|) in one vrangeps (its sign cleared).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> LargestMagnitude(Vector512<float> a, Vector512<float> b) => Avx512DQ.Range(a, b, 0x0B);

    /// <summary>max over the lanes: halves, then quarters, then the last four (the bare vmaxps: a NaN may be dropped,
    /// and the callers' sums keep it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector512<float> all)
    {
        Vector256<float> h = Avx.Max(all.GetLower(), all.GetUpper());
        Vector128<float> q = Sse.Max(h.GetLower(), h.GetUpper());
        return MathF.Max(MathF.Max(q.GetElement(0), q.GetElement(1)), MathF.Max(q.GetElement(2), q.GetElement(3)));
    }
}
