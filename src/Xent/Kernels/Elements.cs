using System.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Xent.Kernels;

/// <summary>Conversions between an element type T (float, double, Half, BFloat16) and its compute type TC
/// (float for float, Half and BFloat16, since low precision accumulates in float32; double for double).</summary>
/// <remarks>Every branch tests <c>typeof</c> against a value type, so the JIT keeps one of them per instantiation.</remarks>
internal static class Elements
{
    public static bool IsSupported<T>() =>
        typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TC ToCompute<T, TC>(T value)
    {
        if (typeof(T) == typeof(TC))
        {
            return Unsafe.As<T, TC>(ref value);
        }

        float f;
        if (typeof(T) == typeof(Half))
        {
            f = (float)Unsafe.As<T, Half>(ref value);
        }
        else if (typeof(T) == typeof(BFloat16))
        {
            f = Unsafe.As<T, BFloat16>(ref value);
        }
        else if (typeof(T) == typeof(float))
        {
            f = Unsafe.As<T, float>(ref value);
        }
        else
        {
            double d = Unsafe.As<T, double>(ref value);
            return Unsafe.As<double, TC>(ref d);
        }

        if (typeof(TC) == typeof(double))
        {
            double d = f;
            return Unsafe.As<double, TC>(ref d);
        }

        return Unsafe.As<float, TC>(ref f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FromCompute<T, TC>(TC value)
    {
        if (typeof(T) == typeof(TC))
        {
            return Unsafe.As<TC, T>(ref value);
        }

        if (typeof(T) == typeof(double))
        {
            double d = typeof(TC) == typeof(float) ? Unsafe.As<TC, float>(ref value) : Unsafe.As<TC, double>(ref value);
            return Unsafe.As<double, T>(ref d);
        }

        // Narrow through float, as PyTorch converts its float accumulators.
        float f = typeof(TC) == typeof(float) ? Unsafe.As<TC, float>(ref value) : (float)Unsafe.As<TC, double>(ref value);
        if (typeof(T) == typeof(float))
        {
            return Unsafe.As<float, T>(ref f);
        }

        if (typeof(T) == typeof(Half))
        {
            Half h = (Half)f;
            return Unsafe.As<Half, T>(ref h);
        }

        BFloat16 b = (BFloat16)f;
        return Unsafe.As<BFloat16, T>(ref b);
    }

    /// <summary>Widens <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    public static void Widen<T, TC>(ReadOnlySpan<T> source, Span<TC> destination)
        where T : unmanaged
        where TC : unmanaged
    {
        if (typeof(T) == typeof(TC))
        {
            MemoryMarshal.Cast<T, TC>(source).CopyTo(destination);
        }
        else if (typeof(T) == typeof(Half) && typeof(TC) == typeof(float))
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<T, Half>(source), MemoryMarshal.Cast<TC, float>(destination));
        }
        else if (typeof(T) == typeof(BFloat16) && typeof(TC) == typeof(float))
        {
            WidenBFloat16(MemoryMarshal.Cast<T, ushort>(source), MemoryMarshal.Cast<TC, uint>(destination));
        }
        else
        {
            for (int i = 0; i < source.Length; i++)
            {
                destination[i] = ToCompute<T, TC>(source[i]);
            }
        }
    }

    /// <summary>Narrows <paramref name="source"/> into <paramref name="destination"/> (same length), rounding to nearest even.</summary>
    public static void Narrow<T, TC>(ReadOnlySpan<TC> source, Span<T> destination)
        where T : unmanaged
        where TC : unmanaged
    {
        if (typeof(T) == typeof(TC))
        {
            MemoryMarshal.Cast<TC, T>(source).CopyTo(destination);
        }
        else if (typeof(T) == typeof(Half) && typeof(TC) == typeof(float))
        {
            TensorPrimitives.ConvertToHalf(MemoryMarshal.Cast<TC, float>(source), MemoryMarshal.Cast<T, Half>(destination));
        }
        else if (typeof(T) == typeof(BFloat16) && typeof(TC) == typeof(float))
        {
            NarrowBFloat16(MemoryMarshal.Cast<TC, uint>(source), MemoryMarshal.Cast<T, ushort>(destination));
        }
        else
        {
            for (int i = 0; i < source.Length; i++)
            {
                destination[i] = FromCompute<T, TC>(source[i]);
            }
        }
    }

    /// <summary><see cref="Narrow{T, TC}(ReadOnlySpan{TC}, Span{T})"/> of float into float16 or bfloat16 with
    /// non-temporal stores from the destination's first 32-byte boundary on (x86 with AVX2 and FMA; elsewhere plain
    /// stores): for long rows of a gradient larger than the caches, whose lines would otherwise be read before they are
    /// written. The caller fences (<see cref="Sse.StoreFence"/>) before another thread reads them.</summary>
    public static unsafe void NarrowStreamed<T>(ReadOnlySpan<float> source, Span<T> destination)
        where T : unmanaged
    {
        Debug.Assert(typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16), "16-bit element types only");
        if (!HalfVectors.IsVector256Supported)
        {
            Narrow(source, destination);
            return;
        }

        fixed (float* from = source)
        fixed (T* to = destination)
        {
            int n = Math.Min(source.Length, destination.Length);
            ushort* bits = (ushort*)to;
            int i = 0;
            for (; i < n && ((nuint)(bits + i) & 31) != 0; i++)
            {
                to[i] = FromCompute<T, float>(from[i]);
            }

            for (; i <= n - 16; i += 16)
            {
                Vector256<ushort> r;
                if (Avx512F.IsSupported)
                {
                    Vector512<float> v = Vector512.Load(from + i);
                    r = Avx512F.ConvertToVector256UInt16(typeof(T) == typeof(Half) ? HalfVectors.ToHalfBits(v) : BFloat16Bits(v.AsUInt32()));
                }
                else
                {
                    r = LowRows.Narrow256<T>(Vector256.Load(from + i), Vector256.Load(from + i + 8));
                }

                Avx.StoreAlignedNonTemporal(bits + i, r);
            }

            for (; i < n; i++)
            {
                to[i] = FromCompute<T, float>(from[i]);
            }
        }
    }

    /// <summary>Round-to-nearest-even of each float's upper half, 16 lanes at a time, NaN kept a quiet NaN: the
    /// vector form of <see cref="BFloat16.RoundToBits"/>.</summary>
    private static void NarrowBFloat16(ReadOnlySpan<uint> source, Span<ushort> destination)
    {
        int i = 0;
        if (Avx512F.IsSupported)
        {
            for (; i <= source.Length - Vector512<uint>.Count; i += Vector512<uint>.Count)
            {
                Vector512<uint> result = BFloat16Bits(Vector512.Create(source.Slice(i, Vector512<uint>.Count)));
                Avx512F.ConvertToVector256UInt16(result).CopyTo(destination.Slice(i));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            // AVX2: 16 a step, without bounds checks (128-bit steps with them took a fifth of bfloat16 4096 × 32000
            // forward+backward with AVX-512 off).
            ref uint from = ref MemoryMarshal.GetReference(source);
            ref ushort to = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - 16; i += 16)
            {
                Vector256<uint> lo = BFloat16Bits(Vector256.LoadUnsafe(ref from, (nuint)i)), hi = BFloat16Bits(Vector256.LoadUnsafe(ref from, (nuint)i + 8));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref to, (nuint)i);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            // (The portable K-dim tiles narrow their gradient through here: scalar, it took a fifth of their time.)
            for (; i <= source.Length - 8; i += 8)
            {
                Vector128<uint> lo = BFloat16Bits(Vector128.Create(source.Slice(i, 4))), hi = BFloat16Bits(Vector128.Create(source.Slice(i + 4, 4)));
                Vector128.Narrow(lo, hi).CopyTo(destination.Slice(i));
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = BFloat16.RoundToBits(BitConverter.UInt32BitsToSingle(source[i]));
        }
    }

    /// <summary><see cref="BFloat16Bits(Vector512{uint})"/> for 8 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> BFloat16Bits(Vector256<uint> bits)
    {
        Vector256<uint> rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
        Vector256<uint> nan = Vector256.GreaterThan(bits & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        return Vector256.ConditionalSelect(nan, (bits >> 16) | Vector256.Create(0x0040u), rounded);
    }

    /// <summary><see cref="BFloat16Bits(Vector512{uint})"/> for 4 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> BFloat16Bits(Vector128<uint> bits)
    {
        Vector128<uint> rounded = (bits + Vector128.Create(0x7FFFu) + ((bits >> 16) & Vector128<uint>.One)) >> 16;
        Vector128<uint> nan = Vector128.GreaterThan(bits & Vector128.Create(0x7FFF_FFFFu), Vector128.Create(0x7F80_0000u));
        return Vector128.ConditionalSelect(nan, (bits >> 16) | Vector128.Create(0x0040u), rounded);
    }

    /// <summary>16 floats' bits to bfloat16 bits (in the low half of each lane): round to nearest even, NaN kept a quiet
    /// NaN (<see cref="BFloat16HighBits"/>, shifted down).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> BFloat16Bits(Vector512<uint> bits) => BFloat16HighBits(bits.AsSingle()) >> 16;

    /// <summary>16 floats rounded to bfloat16 in the upper half of each lane (the lower half is not cleared): round to
    /// nearest even, NaN kept a quiet NaN, the NaN test one compare. For a caller that picks the upper words anyway
    /// (<see cref="LowRows.NarrowPair{T}"/>) it saves the shift back: 6 instructions per 16 floats instead of 7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> BFloat16HighBits(Vector512<float> value)
    {
        Vector512<uint> bits = value.AsUInt32();
        Vector512<uint> rounded = bits + (((bits >> 16) & Vector512<uint>.One) + Vector512.Create(0x7FFFu));
        return Vector512.ConditionalSelect(Vector512.IsNaN(value).AsUInt32(), bits | Vector512.Create(0x0040_0000u), rounded);
    }

    /// <summary>bfloat16 is the upper half of a float: widening is a 16-bit shift, done 16 lanes at a time.</summary>
    private static void WidenBFloat16(ReadOnlySpan<ushort> source, Span<uint> destination)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                Vector512<uint> wide = Vector512.WidenLower(Vector256.Create(source.Slice(i, Vector256<ushort>.Count)).ToVector512Unsafe());
                (wide << 16).CopyTo(destination.Slice(i));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            ref ushort from = ref MemoryMarshal.GetReference(source);
            ref uint to = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - 16; i += 16)
            {
                Vector256<ushort> v = Vector256.LoadUnsafe(ref from, (nuint)i);
                (Vector256.WidenLower(v) << 16).StoreUnsafe(ref to, (nuint)i);
                (Vector256.WidenUpper(v) << 16).StoreUnsafe(ref to, (nuint)i + 8);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= source.Length - 8; i += 8)
            {
                Vector128<ushort> v = Vector128.Create(source.Slice(i, 8));
                (Vector128.WidenLower(v) << 16).CopyTo(destination.Slice(i));
                (Vector128.WidenUpper(v) << 16).CopyTo(destination.Slice(i + 4));
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = (uint)source[i] << 16;
        }
    }
}
