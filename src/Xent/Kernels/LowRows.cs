using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>The two passes of a float16 or bfloat16 row that touch its own element type, each fused with the float
/// work next to it: the widening with the max pass, the narrowing with the gradient pass. The exps in between run on
/// the widened float row, as for float32, so low precision accumulates in float32.</summary>
/// <remarks>16 elements at a time in registers (AVX-512): a bfloat16 is the upper half of a float, a float16 goes
/// through <see cref="HalfVectors"/> (.NET exposes no F16C conversion). Both round to nearest even exactly as the scalar
/// conversions do.</remarks>
internal static unsafe class LowRows
{
    /// <summary>Whether the fused low-precision passes apply to <typeparamref name="T"/> on this machine.</summary>
    public static bool IsSupported<T>() =>
        HalfVectors.IsVector512Supported && (typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16));

    /// <summary>16 elements widened to float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load<T>(T* source)
        where T : unmanaged
    {
        if (typeof(T) == typeof(Half))
        {
            return HalfVectors.Load((Half*)source);
        }

        return (Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)source)) << 16).AsSingle();
    }

    /// <summary>16 floats rounded to <typeparamref name="T"/>'s bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> Narrow<T>(Vector512<float> value)
        where T : unmanaged
    {
        Vector512<uint> bits = typeof(T) == typeof(Half) ? HalfVectors.ToHalfBits(value) : Elements.BFloat16Bits(value.AsUInt32());
        return Avx512F.ConvertToVector256UInt16(bits);
    }

    /// <summary>Chunk length of <see cref="MaxAndSumExp"/>, as <see cref="FloatRows"/>'s: 16 KiB of floats.</summary>
    public const int Chunk = 4096;

    /// <summary>m = max x_i and s = Σ exp(x_i − m) in one read of the row: each chunk widened into
    /// <paramref name="buffer"/> (<see cref="Chunk"/> floats, L1-resident) with its max, then its exps from there,
    /// combined across chunks by rescaling the running sum. Returns false without a result when the max is not finite
    /// or a NaN turned up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool MaxAndSumExp<T>(T* x, int n, float* buffer, out float m, out float s)
        where T : unmanaged
    {
        m = float.NegativeInfinity;
        s = 0f;
        for (int start = 0; start < n; start += Chunk)
        {
            int len = Math.Min(Chunk, n - start);
            float mc = WidenMax(x + start, buffer, len);
            if (!float.IsFinite(mc))
            {
                if (float.IsNegativeInfinity(mc))
                {
                    continue;
                }

                return false;
            }

            float sc = FloatRows.ExpSum(buffer, len, mc, null, (float*)(x + start + Chunk));
            if (float.IsNaN(sc))
            {
                return false;
            }

            if (mc > m)
            {
                s = s * MathF.Exp(m - mc) + sc;
                m = mc;
            }
            else
            {
                s += sc * MathF.Exp(mc - m);
            }
        }

        return float.IsFinite(m);
    }

    /// <summary>dst_i = (float)src_i, and returns max dst_i. Like <see cref="FloatRows.Max"/>, the bare vmaxps may drop
    /// a NaN; the caller's sum of exps catches it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float WidenMax<T>(T* source, float* destination, int n)
        where T : unmanaged
    {
        int i = 0;
        float m = float.NegativeInfinity;
        if (n >= 16)
        {
            Vector512<float> m0 = Vector512.Create(float.NegativeInfinity), m1 = m0;
            for (; i <= n - 32; i += 32)
            {
                Vector512<float> v0 = Load(source + i);
                Vector512<float> v1 = Load(source + i + 16);
                v0.Store(destination + i);
                v1.Store(destination + i + 16);
                m0 = Avx512F.Max(m0, v0);
                m1 = Avx512F.Max(m1, v1);
            }

            if (i <= n - 16)
            {
                Vector512<float> v0 = Load(source + i);
                v0.Store(destination + i);
                m0 = Avx512F.Max(m0, v0);
                i += 16;
            }

            Vector512<float> all = Avx512F.Max(m0, m1);
            for (int l = 0; l < 16; l++)
            {
                m = MathF.Max(m, all.GetElement(l));
            }
        }

        for (; i < n; i++)
        {
            float v = Elements.ToCompute<T, float>(source[i]);
            destination[i] = v;
            m = MathF.Max(m, v);
        }

        return m;
    }

    /// <summary>dst_i = a·e_i + b·w_i (or + b when <paramref name="w"/> is null), rounded to <typeparamref name="T"/>;
    /// with <paramref name="nonTemporal"/>, stored past the cache (from the first 32-byte boundary on).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AffineNarrow<T>(float* e, int n, float a, float b, float* w, T* destination, bool nonTemporal)
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

        Vector512<float> va = Vector512.Create(a), vb = Vector512.Create(b);
        for (; i <= n - 16; i += 16)
        {
            Vector512<float> bw = w == null ? vb : vb * Vector512.Load(w + i);
            Vector256<ushort> r = Narrow<T>(Avx512F.FusedMultiplyAdd(Vector512.Load(e + i), va, bw));
            if (nonTemporal)
            {
                Avx.StoreAlignedNonTemporal((ushort*)(destination + i), r);
            }
            else
            {
                r.Store((ushort*)(destination + i));
            }
        }

        for (; i < n; i++)
        {
            destination[i] = Elements.FromCompute<T, float>(MathF.FusedMultiplyAdd(e[i], a, w == null ? b : b * w[i]));
        }
    }
}
