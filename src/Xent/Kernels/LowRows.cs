using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>float16 and bfloat16 in the row kernels: 16 elements widened to float as they are loaded (the kernels'
/// exp pass reads the row in its own type) and the gradient narrowed as it is stored, so low precision accumulates in
/// float32 without a float copy of the row.</summary>
/// <remarks>16 elements at a time in registers (AVX-512): a bfloat16 is the upper half of a float, a float16 goes
/// through <see cref="HalfVectors"/> (.NET exposes no F16C conversion). Both round to nearest even exactly as the scalar
/// conversions do.</remarks>
internal static unsafe class LowRows
{
    /// <summary>Whether the fused low-precision passes apply to <typeparamref name="T"/> on this machine.</summary>
    public static bool IsSupported<T>() =>
        HalfVectors.IsVector512Supported && (typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16));

    /// <summary>16 elements as floats: float loaded as is, float16 and bfloat16 widened.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load<T>(T* source)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            return Vector512.Load((float*)source);
        }

        if (typeof(T) == typeof(Half))
        {
            return HalfVectors.Load((Half*)source);
        }

        return (Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)source)) << 16).AsSingle();
    }

    /// <summary>Whether the AVX2 row helpers (<see cref="WidenMax256"/>, <see cref="AffineNarrow"/> in 256-bit steps)
    /// apply to <typeparamref name="T"/>: float16 and bfloat16 on x86 with AVX2 and FMA.</summary>
    public static bool IsSupported256<T>() =>
        HalfVectors.IsVector256Supported && (typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16));

    /// <summary>8 float16 or bfloat16 elements widened to floats (<see cref="IsSupported256{T}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256<T>(T* source)
        where T : unmanaged =>
        typeof(T) == typeof(Half)
            ? HalfVectors.Load256((Half*)source)
            : (Avx2.ConvertToVector256Int32((ushort*)source) << 16).AsSingle();

    /// <summary>16 floats rounded to float16 or bfloat16 as <see cref="Elements.Narrow{T, TC}"/> rounds them, the bits of
    /// <paramref name="lo"/> then <paramref name="hi"/> (<see cref="IsSupported256{T}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> Narrow256<T>(Vector256<float> lo, Vector256<float> hi)
        where T : unmanaged =>
        typeof(T) == typeof(Half)
            ? Vector256.Narrow(HalfVectors.ToHalfBits(lo), HalfVectors.ToHalfBits(hi))
            : Vector256.Narrow(Elements.BFloat16Bits(lo.AsUInt32()), Elements.BFloat16Bits(hi.AsUInt32()));

    /// <summary>Widens the <paramref name="n"/> float16 or bfloat16 values at <paramref name="source"/> into
    /// <paramref name="destination"/> (as <see cref="Elements.Widen{T, TC}"/> does) and returns their max, in one pass
    /// (<see cref="IsSupported256{T}"/>). A NaN may or may not come through in the max, as with
    /// <see cref="FloatRows.Max"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float WidenMax256<T>(T* source, float* destination, int n)
        where T : unmanaged
    {
        Vector256<float> m0 = Vector256.Create(float.NegativeInfinity), m1 = m0;
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            Step(source, destination, i, ref m0, ref m1);
        }

        if (i < n && n >= 16)
        {
            // The last n mod 16 in the 16 that end at n (the overlap is widened and stored again, the same values): their
            // scalar conversions cost a 1000-class row 7% of its forward+backward.
            Step(source, destination, n - 16, ref m0, ref m1);
            i = n;
        }

        Vector256<float> all = Avx.Max(m0, m1);
        float m = float.NegativeInfinity;
        for (int l = 0; l < 8; l++)
        {
            m = MathF.Max(m, all.GetElement(l));
        }

        for (; i < n; i++)
        {
            float v = Elements.ToCompute<T, float>(source[i]);
            destination[i] = v;
            m = MathF.Max(m, v);
        }

        return m;

        static void Step(T* source, float* destination, int i, ref Vector256<float> m0, ref Vector256<float> m1)
        {
            Vector256<float> v0 = Load256(source + i), v1 = Load256(source + i + 8);
            v0.Store(destination + i);
            v1.Store(destination + i + 8);
            m0 = Avx.Max(m0, v0);
            m1 = Avx.Max(m1, v1);
        }
    }

    /// <summary>How the exp passes read 16 elements: as v, whose values are v·<see cref="Scale"/>, and x − r from v and
    /// −r.</summary>
    internal interface IRowLoad
    {
        static abstract float Scale { get; }

        static abstract Vector512<float> Load<T>(T* source)
            where T : unmanaged;

        static abstract Vector512<float> Minus(Vector512<float> v, Vector512<float> negR);

        /// <summary>e^d for d from <see cref="Minus"/>.</summary>
        static abstract Vector512<float> Exp(Vector512<float> d);

        /// <summary><see cref="Exp"/> for a term of a sum that nothing else reads (<see cref="FloatRows.ExpForSum(Vector512{float})"/>).</summary>
        static abstract Vector512<float> SumExp(Vector512<float> d);
    }

    /// <summary>Every element type, widened exactly (<see cref="Load"/>).</summary>
    internal readonly struct ExactLoad : IRowLoad
    {
        public static float Scale => 1f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load<T>(T* source)
            where T : unmanaged => LowRows.Load(source);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Minus(Vector512<float> v, Vector512<float> negR) => v + negR;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Exp(Vector512<float> d) => FloatRows.Exp(d);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> SumExp(Vector512<float> d) => FloatRows.ExpForSum(d);
    }

    /// <summary>float and bfloat16 widened exactly, for passes that take the exp without its clamp
    /// (<see cref="FloatRows.ExpUnclamped"/>, two instructions fewer per 16 elements) where they know that the logits and
    /// the reference all lie below <see cref="Limit"/> in magnitude, so that every x − r lies below 2^18; a pass checks
    /// each step's largest magnitude and takes the clamped exp for a step with an infinity (a −∞ mask, say) or a logit
    /// past the limit. <see cref="Exp"/> is the unclamped one.</summary>
    internal readonly struct UnclampedLoad : IRowLoad
    {
        /// <summary>2^17.</summary>
        public const float Limit = 131072f;

        public static float Scale => ExactLoad.Scale;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load<T>(T* source)
            where T : unmanaged => ExactLoad.Load(source);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Minus(Vector512<float> v, Vector512<float> negR) => ExactLoad.Minus(v, negR);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Exp(Vector512<float> d) => FloatRows.ExpUnclamped(d);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> SumExp(Vector512<float> d) => FloatRows.ExpForSumUnclamped(d);
    }

    /// <summary>64 bfloat16 as four vectors of 16 floats in lane-interleaved order, for passes that only sum: two vectors
    /// of 32 unpacked against zero (vpunpcklwd/vpunpckhwd, one instruction per 16 instead of a widen and a shift).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadBFloat16Unordered(ushort* source, out Vector512<float> v0, out Vector512<float> v1, out Vector512<float> v2, out Vector512<float> v3)
    {
        Vector512<ushort> lo = Vector512.Load(source), hi = Vector512.Load(source + 32);
        v0 = Avx512BW.UnpackLow(Vector512<ushort>.Zero, lo).AsSingle();
        v1 = Avx512BW.UnpackHigh(Vector512<ushort>.Zero, lo).AsSingle();
        v2 = Avx512BW.UnpackLow(Vector512<ushort>.Zero, hi).AsSingle();
        v3 = Avx512BW.UnpackHigh(Vector512<ushort>.Zero, hi).AsSingle();
    }

    /// <summary>64 float16 as four vectors of 16 floats in lane-interleaved order, read downscaled as
    /// <see cref="HalfVectors.LoadDownscaled"/> reads them, for passes that only sum: two 64-byte loads, each dword's upper
    /// half shifted into place and its lower half shifted up first (5 instructions per 32 instead of a widening load, a
    /// shift and a mask per 16). <paramref name="bits"/> takes the unsigned max of the raw bits, which is above 0xFC00
    /// exactly where a negative NaN is among them (see <see cref="FloatRows.HalfUnorderedLimit"/> for the rest).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadHalfUnordered(ushort* source, out Vector512<float> v0, out Vector512<float> v1, out Vector512<float> v2, out Vector512<float> v3,
        ref Vector512<ushort> bits)
    {
        Vector512<ushort> lo = Vector512.Load(source), hi = Vector512.Load(source + 32);
        bits = Vector512.Max(bits, Vector512.Max(lo, hi));
        v0 = HalfVectors.DownscaledFromUpperHalves(lo.AsInt32() << 16);
        v1 = HalfVectors.DownscaledFromUpperHalves(lo.AsInt32());
        v2 = HalfVectors.DownscaledFromUpperHalves(hi.AsInt32() << 16);
        v3 = HalfVectors.DownscaledFromUpperHalves(hi.AsInt32());
    }

    /// <summary>float16 as <see cref="HalfVectors.LoadDownscaled"/> reads it: infinity and NaN come out finite, and
    /// the caller tracks the largest magnitude to tell.</summary>
    internal readonly struct HalfBitsLoad : IRowLoad
    {
        public static float Scale => HalfVectors.DownscaledToSingle;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load<T>(T* source)
            where T : unmanaged => HalfVectors.LoadDownscaled((Half*)source);

        /// <summary>v·2^112 is exact, so this is the widened value minus r, rounded once.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Minus(Vector512<float> v, Vector512<float> negR) =>
            Avx512F.FusedMultiplyAdd(v, Vector512.Create(HalfVectors.DownscaledToSingle), negR);

        /// <summary>d is the difference of two values below 2^17 in magnitude (a finite half, or an infinity or NaN
        /// read as one), so the exp needs no clamp.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Exp(Vector512<float> d) => FloatRows.ExpUnclamped(d);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> SumExp(Vector512<float> d) => FloatRows.ExpForSumUnclamped(d);
    }

    /// <summary>16 floats rounded to <typeparamref name="T"/>'s bits (<see cref="NarrowBits"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> Narrow<T>(Vector512<float> value, bool tiny = false)
        where T : unmanaged => Avx512F.ConvertToVector256UInt16(NarrowBits<T>(value, tiny));

    /// <summary>16 floats rounded to <typeparamref name="T"/>'s bits, zero-extended in each 32-bit lane. With
    /// <paramref name="tiny"/> (float16 only), the caller knows every value is below 2^−14 in magnitude, and the short
    /// rounding serves (<see cref="HalfVectors.TinyToHalfBits(Vector512{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> NarrowBits<T>(Vector512<float> value, bool tiny = false)
        where T : unmanaged =>
        typeof(T) != typeof(Half) ? Elements.BFloat16Bits(value.AsUInt32())
        : tiny ? HalfVectors.TinyToHalfBits(value)
        : HalfVectors.ToHalfBits(value);

    /// <summary>Two sets of 16 floats rounded to <typeparamref name="T"/>'s bits (<see cref="NarrowBits"/>, with
    /// <paramref name="tiny"/> as there), in order in one vector: one vpermt2w joins the even words of both (float16) or
    /// their odd words, the upper halves that <see cref="Elements.BFloat16HighBits"/> rounds in place (bfloat16: 12
    /// instructions per 32 floats instead of 16; bfloat16 (8, 21, 512, 512) forward+backward 0.7–1% faster on one thread
    /// and two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ushort> NarrowPair<T>(Vector512<float> low, Vector512<float> high, bool tiny = false)
        where T : unmanaged =>
        typeof(T) != typeof(Half)
            ? Avx512BW.PermuteVar32x16x2(
                Elements.BFloat16HighBits(low).AsUInt16(),
                Vector512.Create((ushort)1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63),
                Elements.BFloat16HighBits(high).AsUInt16())
            : Avx512BW.PermuteVar32x16x2(
                NarrowBits<T>(low, tiny).AsUInt16(),
                Vector512.Create((ushort)0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62),
                NarrowBits<T>(high, tiny).AsUInt16());

    /// <summary>Whether <see cref="AffineNarrowSteps"/> narrows 32 at a time into 64-byte stores, so that
    /// <see cref="AffineNarrow"/> starts a streamed run on a line. float16 only when streamed: its plain-stored rows
    /// measured 4% slower in pairs (16384 × 1000 forward+backward, one thread), its streamed ones 5% faster (4096 × 32000).</summary>
    private static bool InPairs<T>(bool nonTemporal) => Avx512BW.IsSupported && (nonTemporal || typeof(T) != typeof(Half));

    /// <summary>dst_i = a·e_i + b·w_i (or + b when <paramref name="w"/> is null), rounded to <typeparamref name="T"/>;
    /// with <paramref name="nonTemporal"/>, stored past the cache from the first line on (64 bytes; 32 without AVX-512BW).
    /// With <paramref name="mostlyTiny"/>, float16 vectors (pairs of them) whose values all lie below 2^−14 take the short rounding
    /// (<see cref="HalfVectors.TinyToHalfBits(Vector512{float}, Vector512{float})"/>), others the full one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AffineNarrow<T>(float* e, int n, float a, float b, float* w, T* destination, bool nonTemporal, bool mostlyTiny = false)
        where T : unmanaged
    {
        if (!Avx512F.IsSupported)
        {
            AffineNarrow256(e, n, a, b, w, destination, nonTemporal);
            return;
        }

        int i = 0;
        if (nonTemporal)
        {
            // To a line where the steps store whole lines (pairs), else half a line.
            nuint align = InPairs<T>(nonTemporal: true) ? 63u : 31u;
            for (; i < n && ((nuint)(destination + i) & align) != 0; i++)
            {
                destination[i] = Elements.FromCompute<T, float>(MathF.FusedMultiplyAdd(e[i], a, w == null ? b : b * w[i]));
            }
        }

        if (typeof(T) == typeof(Half) && mostlyTiny)
        {
            i = nonTemporal
                ? AffineNarrowSteps<T, Set, Set>(e, i, n, a, b, w, destination)
                : AffineNarrowSteps<T, Clear, Set>(e, i, n, a, b, w, destination);
        }
        else
        {
            i = nonTemporal
                ? AffineNarrowSteps<T, Set, Clear>(e, i, n, a, b, w, destination)
                : AffineNarrowSteps<T, Clear, Clear>(e, i, n, a, b, w, destination);
        }

        Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b);

        if (i < n && n >= 16 && !nonTemporal && Avx512BW.VL.IsSupported)
        {
            // The last n mod 16 of a short row in one masked store (vmovdqu16 {k}) of the last 16 lanes: its scalar
            // conversions measured 10% of a 1000-class float16 row. Not next to streamed lines, which a masked store
            // over the same line slows down (float32 16384 × 1000: 11.7 → 13.9 ms).
            int last = n - 16;
            Avx512BW.VL.MaskStore((ushort*)(destination + last), Vector256.GreaterThanOrEqual(Vector256<ushort>.Indices, Vector256.Create((ushort)(i - last))),
                Narrow<T>(Avx512F.FusedMultiplyAdd(Vector512.Load(e + last), va, w == null ? vb : vb * Vector512.Load(w + last))));
            return;
        }

        for (; i < n; i++)
        {
            destination[i] = Elements.FromCompute<T, float>(MathF.FusedMultiplyAdd(e[i], a, w == null ? b : b * w[i]));
        }
    }

    /// <summary><see cref="AffineNarrow"/> with AVX2 and FMA (<see cref="IsSupported256{T}"/>): 16 at a time, two
    /// 256-bit FMAs (the operations of <see cref="FloatRows.Affine(float*, int, float, float, float*, float*, bool)"/>) rounded as <see cref="Elements.Narrow{T, TC}"/>
    /// rounds into one 32-byte store, streamed from the first 32-byte boundary on with <paramref name="nonTemporal"/> (as
    /// <see cref="Elements.NarrowStreamed{T}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AffineNarrow256<T>(float* e, int n, float a, float b, float* w, T* destination, bool nonTemporal)
        where T : unmanaged
    {
        int i = 0;
        if (nonTemporal)
        {
            for (; i < n && ((nuint)(destination + i) & 31) != 0; i++)
            {
                destination[i] = Elements.FromCompute<T, float>(MathF.FusedMultiplyAdd(e[i], a, w == null ? b : b * w[i]));
            }
        }

        for (; i <= n - 16; i += 16)
        {
            Vector256<ushort> r = Step<T>(e, w, a, b, i);
            if (nonTemporal)
            {
                Avx.StoreAlignedNonTemporal((ushort*)(destination + i), r);
            }
            else
            {
                r.Store((ushort*)(destination + i));
            }
        }

        if (i < n && n >= 16 && !nonTemporal)
        {
            // The last n mod 16 in the 16 that end at n (the overlap is stored again, the same values), as WidenMax256
            // widens them; not next to streamed lines.
            Step<T>(e, w, a, b, n - 16).Store((ushort*)(destination + n - 16));
            return;
        }

        for (; i < n; i++)
        {
            destination[i] = Elements.FromCompute<T, float>(MathF.FusedMultiplyAdd(e[i], a, w == null ? b : b * w[i]));
        }
    }

    /// <summary>a·e + b·w (or + b) for the 16 elements from <paramref name="i"/>, rounded to <typeparamref name="T"/>:
    /// one step of <see cref="AffineNarrow256"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Step<T>(float* e, float* w, float a, float b, int i)
        where T : unmanaged
    {
        Vector256<float> va = Vector256.Create(a), vb = Vector256.Create(b);
        Vector256<float> v0 = Fma.MultiplyAdd(Vector256.Load(e + i), va, w == null ? vb : Vector256.Load(w + i) * vb);
        Vector256<float> v1 = Fma.MultiplyAdd(Vector256.Load(e + i + 8), va, w == null ? vb : Vector256.Load(w + i + 8) * vb);
        return Narrow256<T>(v0, v1);
    }

    /// <summary>The 16-element steps of <see cref="AffineNarrow"/> from <paramref name="i"/>, compiled per store kind and
    /// rounding (one loop without branches on either); returns where they stopped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int AffineNarrowSteps<T, TNonTemporal, TTiny>(float* e, int i, int n, float a, float b, float* w, T* destination)
        where T : unmanaged
        where TNonTemporal : struct, IFlag
        where TTiny : struct, IFlag
    {
        Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b);
        if (InPairs<T>(TNonTemporal.On))
        {
            // 32 at a time, joined into one 64-byte store (NarrowPair): bfloat16's halves rounded in place and their upper
            // words joined, 6 instructions fewer per 32 than two Narrow (bfloat16 4096 × 32000 forward+backward 4% faster
            // on one thread; on two, within the noise, about 1%); float16's streamed rows 2–3% faster.
            for (; i <= n - 32; i += 32)
            {
                Vector512<float> bw0 = w == null ? vb : vb * Vector512.Load(w + i);
                Vector512<float> bw1 = w == null ? vb : vb * Vector512.Load(w + i + 16);
                Vector512<float> v0 = Avx512F.FusedMultiplyAdd(Vector512.Load(e + i), va, bw0);
                Vector512<float> v1 = Avx512F.FusedMultiplyAdd(Vector512.Load(e + i + 16), va, bw1);
                Vector512<ushort> r = TTiny.On && Vector512.LessThanAll(Vector512.Max(Vector512.Abs(v0), Vector512.Abs(v1)), Vector512.Create(HalfVectors.MinNormalHalf))
                    ? NarrowPair<T>(v0, v1, tiny: true)
                    : NarrowPair<T>(v0, v1);
                if (TNonTemporal.On)
                {
                    // AffineNarrow started the stream on a line.
                    Avx512F.StoreAlignedNonTemporal((ushort*)(destination + i), r);
                }
                else
                {
                    r.Store((ushort*)(destination + i));
                }
            }
        }

        for (; i <= n - 16; i += 16)
        {
            Vector512<float> bw = w == null ? vb : vb * Vector512.Load(w + i);
            Vector512<float> v = Avx512F.FusedMultiplyAdd(Vector512.Load(e + i), va, bw);
            Vector512<uint> bits;
            if (TTiny.On)
            {
                Vector512<float> magnitude = Vector512.Abs(v);
                bits = Vector512.LessThanAll(magnitude, Vector512.Create(HalfVectors.MinNormalHalf))
                    ? HalfVectors.TinyToHalfBits(v, magnitude)
                    : NarrowBits<T>(v);
            }
            else
            {
                bits = NarrowBits<T>(v);
            }

            Vector256<ushort> r = Avx512F.ConvertToVector256UInt16(bits);
            if (TNonTemporal.On)
            {
                Avx.StoreAlignedNonTemporal((ushort*)(destination + i), r);
            }
            else
            {
                r.Store((ushort*)(destination + i));
            }
        }

        return i;
    }
}
