using System.Runtime.Intrinsics;
using Xent.Kernels;

namespace Xent.Tests.Library;

/// <summary>A fact that runs only where the kernels' vectors of the given width do (<see cref="HalfVectors"/>' widths:
/// 512 needs AVX-512 F, BW and DQ, 256 needs AVX2 and FMA): skipped, with the reason, on hardware without them.</summary>
public sealed class VectorWidthFactAttribute : FactAttribute
{
    public VectorWidthFactAttribute(int width)
    {
        if (width == 512 && !HalfVectors.IsVector512Supported)
        {
            Skip = "needs AVX-512 F, BW and DQ, which this machine lacks";
        }
        else if (width == 256 && !HalfVectors.IsVector256Supported)
        {
            Skip = "needs AVX2 and FMA, which this machine lacks";
        }
        else if (width == 128 && !System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated)
        {
            Skip = "needs accelerated 128-bit vectors, which this machine lacks";
        }
    }
}

/// <summary><see cref="HalfVectors"/> against .NET's scalar casts, bit for bit, NaN payloads included: every half, every
/// float at or next to a rounding boundary, every NaN, and a few million random floats, at both widths.</summary>
public sealed unsafe class HalfVectorTests
{
    [VectorWidthFact(512)]
    public void Widen512IsTheCastForEveryHalf() => CheckWiden(512);

    [VectorWidthFact(256)]
    public void Widen256IsTheCastForEveryHalf() => CheckWiden(256);

    [VectorWidthFact(512)]
    public void Narrow512IsTheCastAtEveryRoundingBoundary() => CheckNarrow(512, RoundingBoundaries());

    [VectorWidthFact(256)]
    public void Narrow256IsTheCastAtEveryRoundingBoundary() => CheckNarrow(256, RoundingBoundaries());

    [VectorWidthFact(512)]
    public void Narrow512IsTheCastForSpecialValuesAndEveryNaN() => CheckNarrow(512, SpecialValues());

    [VectorWidthFact(256)]
    public void Narrow256IsTheCastForSpecialValuesAndEveryNaN() => CheckNarrow(256, SpecialValues());

    [VectorWidthFact(512)]
    public void Narrow512IsTheCastOnRandomFloats() => CheckNarrow(512, RandomFloats(512));

    [VectorWidthFact(256)]
    public void Narrow256IsTheCastOnRandomFloats() => CheckNarrow(256, RandomFloats(256));

    [Fact]
    public void LoadAndStoreMatchTheCastsThroughMemory()
    {
        // Every half in, through Load; then every half's value and a float just off each one's boundary, through Store.
        // Offset by one element, so neither is aligned to its width.
        Half[] halves = new Half[65536 + 1];
        float[] floats = new float[2 * 65536 + 1];
        for (int h = 0; h < 65536; h++)
        {
            halves[h + 1] = BitConverter.UInt16BitsToHalf((ushort)h);
            floats[2 * h + 1] = (float)halves[h + 1];
            floats[2 * h + 2] = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(floats[2 * h + 1]) + 0x1001);
        }

        foreach (int width in new[] { 512, 256 })
        {
            if (!(width == 512 ? HalfVectors.IsVector512Supported : HalfVectors.IsVector256Supported))
            {
                continue;
            }

            int lanes = width / 32;
            var widened = new float[65536];
            var narrowed = new Half[floats.Length - 1];
            fixed (Half* ph = halves, pn = narrowed)
            fixed (float* pw = widened, pf = floats)
            {
                for (int i = 0; i < widened.Length; i += lanes)
                {
                    if (width == 512)
                    {
                        HalfVectors.Load(ph + 1 + i).Store(pw + i);
                    }
                    else
                    {
                        HalfVectors.Load256(ph + 1 + i).Store(pw + i);
                    }
                }

                for (int i = 0; i < narrowed.Length; i += lanes)
                {
                    if (width == 512)
                    {
                        HalfVectors.Store(Vector512.Load(pf + 1 + i), pn + i);
                    }
                    else
                    {
                        HalfVectors.Store(Vector256.Load(pf + 1 + i), pn + i);
                    }
                }
            }

            for (int h = 0; h < widened.Length; h++)
            {
                uint expected = BitConverter.SingleToUInt32Bits((float)halves[h + 1]);
                Assert.True(BitConverter.SingleToUInt32Bits(widened[h]) == expected,
                    $"Load ({width}) of 0x{h:X4}: 0x{BitConverter.SingleToUInt32Bits(widened[h]):X8}, the cast gives 0x{expected:X8}");
            }

            for (int i = 0; i < narrowed.Length; i++)
            {
                ushort expected = BitConverter.HalfToUInt16Bits((Half)floats[i + 1]);
                ushort actual = BitConverter.HalfToUInt16Bits(narrowed[i]);
                Assert.True(actual == expected,
                    $"Store ({width}) of 0x{BitConverter.SingleToUInt32Bits(floats[i + 1]):X8}: 0x{actual:X4}, the cast gives 0x{expected:X4}");
            }
        }
    }

    /// <summary>The short rounding for values below 2^−14, against the scalar cast: every 1021st float of either sign
    /// below it, and every multiple of 2^−24 and every tie halfway between two, each with its neighbours. (All 1.9
    /// billion such floats were checked once, off the test suite.)</summary>
    [VectorWidthFact(512)]
    public void TinyToHalfBitsIsTheCastBelowTheLeastNormalHalf()
    {
        var floats = new List<float>();
        uint top = BitConverter.SingleToUInt32Bits(HalfVectors.MinNormalHalf);
        for (uint b = 0; b < top; b += 1021)
        {
            floats.Add(BitConverter.UInt32BitsToSingle(b));
        }

        for (int k = 0; k <= 1024; k++)
        {
            // k·2^−24 and the ties (k + ½)·2^−24, each with its neighbours.
            foreach (double v in new[] { k * Math.ScaleB(1, -24), (k + 0.5) * Math.ScaleB(1, -24) })
            {
                float f = (float)v;
                floats.Add(f);
                floats.Add(MathF.BitIncrement(f));
                floats.Add(MathF.BitDecrement(f));
            }
        }

        floats.RemoveAll(f => !(MathF.Abs(f) < HalfVectors.MinNormalHalf));
        floats.AddRange([.. floats.Select(f => -f)]);
        while (floats.Count % 16 != 0)
        {
            floats.Add(0f);
        }

        float[] x = [.. floats];
        for (int i = 0; i < x.Length; i += 16)
        {
            Vector512<uint> bits = HalfVectors.TinyToHalfBits(Vector512.Create(x, i));
            for (int l = 0; l < 16; l++)
            {
                ushort expected = BitConverter.HalfToUInt16Bits((Half)x[i + l]);
                Assert.True(bits[l] == expected, $"{x[i + l]:R}: 0x{bits[l]:X4}, the cast gives 0x{expected:X4}");
            }
        }
    }

    /// <summary>All 65536 bit patterns through <c>ToSingle</c>, against <c>(float)Half</c>.</summary>
    [VectorWidthFact(512)]
    public void LoadDownscaledIsExactAndMarksInfinityAndNaN()
    {
        var halves = new ushort[65536];
        for (int h = 0; h < halves.Length; h++)
        {
            halves[h] = (ushort)h;
        }

        fixed (ushort* p = halves)
        {
            for (int h = 0; h < 65536; h += 16)
            {
                Vector512<float> v = HalfVectors.LoadDownscaled((Half*)(p + h));
                for (int i = 0; i < 16; i++)
                {
                    float value = (float)BitConverter.UInt16BitsToHalf((ushort)(h + i));
                    float read = v[i] * HalfVectors.DownscaledToSingle;
                    if (float.IsFinite(value))
                    {
                        Assert.True(BitConverter.SingleToUInt32Bits(read) == BitConverter.SingleToUInt32Bits(value),
                            $"0x{h + i:X4} reads as {read:R} (2^112 times {v[i]:R}), the cast gives {value:R}");
                    }
                    else
                    {
                        Assert.True(float.IsFinite(read) && MathF.Abs(read) >= HalfVectors.InfinityAsSingle,
                            $"0x{h + i:X4} ({value}) reads as {read:R}: not finite and at least 65536 in magnitude");
                    }
                }
            }
        }
    }

    private static void CheckWiden(int width)
    {
        int lanes = width / 32;
        var actual = new uint[65536];
        for (uint h = 0; h < 65536; h += (uint)lanes)
        {
            Vector512<uint> bits = Vector512.Create(h) + Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            Vector512<float> f = width == 512
                ? HalfVectors.ToSingle(bits)
                : HalfVectors.ToSingle(bits.GetLower()).ToVector512();
            for (int i = 0; i < lanes; i++)
            {
                actual[h + i] = BitConverter.SingleToUInt32Bits(f[i]);
            }
        }

        for (int h = 0; h < 65536; h++)
        {
            uint expected = BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf((ushort)h));
            Assert.True(actual[h] == expected, $"ToSingle ({width}) of 0x{h:X4}: 0x{actual[h]:X8}, the cast gives 0x{expected:X8}");
        }
    }

    /// <summary>Each float (by its bits) through <c>ToHalfBits</c>, against <c>(Half)float</c>.</summary>
    private static void CheckNarrow(int width, uint[] floatBits)
    {
        int lanes = width / 32;
        var actual = new uint[floatBits.Length];
        uint* tail = stackalloc uint[16];
        fixed (uint* pf = floatBits, pa = actual)
        {
            for (int i = 0; i < floatBits.Length; i += lanes)
            {
                // The last, partial vector goes through a zero-padded copy.
                int n = Math.Min(lanes, floatBits.Length - i);
                float* source = (float*)pf + i;
                uint* destination = pa + i;
                if (n < lanes)
                {
                    new Span<uint>(tail, 16).Clear();
                    new ReadOnlySpan<uint>(pf + i, n).CopyTo(new Span<uint>(tail, 16));
                    source = (float*)tail;
                    destination = tail;
                }

                if (width == 512)
                {
                    HalfVectors.ToHalfBits(Vector512.Load(source)).Store(destination);
                }
                else
                {
                    HalfVectors.ToHalfBits(Vector256.Load(source)).Store(destination);
                }

                if (n < lanes)
                {
                    new ReadOnlySpan<uint>(tail, n).CopyTo(new Span<uint>(pa + i, n));
                }
            }
        }

        for (int i = 0; i < floatBits.Length; i++)
        {
            uint expected = BitConverter.HalfToUInt16Bits((Half)BitConverter.UInt32BitsToSingle(floatBits[i]));
            if (actual[i] != expected)
            {
                Assert.Fail($"ToHalfBits ({width}) of 0x{floatBits[i]:X8} ({BitConverter.UInt32BitsToSingle(floatBits[i]):R}): " +
                    $"0x{actual[i]:X8}, the cast gives 0x{expected:X4}");
            }
        }
    }

    /// <summary>For every k, both signs and the whole float range: the float whose low 13 bits are 0 (a half's step
    /// at exponents where the half is normal), the tie at 0x1000 above it, and the floats either side of both.</summary>
    private static uint[] RoundingBoundaries()
    {
        var bits = new List<uint>(6 << 19);
        for (uint k = 0; k < 1u << 19; k++)
        {
            uint b = k << 13;
            bits.AddRange([b, b - 1, b + 1, b + 0x1000, b + 0x0FFF, b + 0x1001]);
        }

        // Where the half is subnormal its step is 2^−24, coarser than 2^13 float steps: every boundary m·2^−25 there
        // (steps and ties), and the floats either side.
        for (int m = 0; m <= 2 * 1024 + 2; m++)
        {
            uint b = BitConverter.SingleToUInt32Bits(MathF.ScaleB(m, -25));
            foreach (uint sign in new[] { 0u, 0x8000_0000u })
            {
                bits.AddRange([sign | b, sign | (b - 1), sign | (b + 1)]);
            }
        }

        return [.. bits];
    }

    /// <summary>±0, ±∞, every NaN (all 2^23 payloads, both signs, quiet and signalling), the largest halves and the
    /// overflow tie at 65520, the edges of the subnormal halves and some ties to even, each with its neighbours.</summary>
    private static uint[] SpecialValues()
    {
        float[] values =
        [
            65504f, 65505f, 65519f, 65520f, 65536f, 1e5f, float.MaxValue, float.Epsilon,
            MathF.ScaleB(1, -14), MathF.ScaleB(1023, -24), MathF.ScaleB(1023.5f, -24), MathF.ScaleB(1023.75f, -24),
            MathF.ScaleB(1025, -24), MathF.ScaleB(1, -24), MathF.ScaleB(1, -25), MathF.ScaleB(1.5f, -25), MathF.ScaleB(1, -26),
            1f, 1.00048828125f, 1.0009765625f, 1.00146484375f, 2047f, 2049f, 4097f, 4099f, 65488f, 65496f,
        ];
        var bits = new uint[4 + 2 * ((1 << 23) - 1) + 6 * values.Length];
        int k = 0;
        foreach (uint b in new uint[] { 0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000 })
        {
            bits[k++] = b;
        }

        for (uint payload = 1; payload < 1u << 23; payload++)
        {
            bits[k++] = 0x7F80_0000 | payload;
            bits[k++] = 0xFF80_0000 | payload;
        }

        foreach (float v in values)
        {
            uint b = BitConverter.SingleToUInt32Bits(v);
            foreach (uint sign in new[] { 0u, 0x8000_0000u })
            {
                bits[k++] = sign | b;
                bits[k++] = sign | (b - 1);
                bits[k++] = sign | (b + 1);
            }
        }

        return bits;
    }

    /// <summary>A few million seeded random floats: half uniform over all bit patterns, half with exponents where a
    /// half is finite or nearly so (2^−26 to 2^17), where the rounding is.</summary>
    private static uint[] RandomFloats(int seed)
    {
        var rng = new Random(seed);
        var bits = new uint[4 << 20];
        for (int i = 0; i < bits.Length; i++)
        {
            uint r = (uint)rng.NextInt64(1L << 32);
            bits[i] = (i & 1) == 0 ? r : (r & 0x807F_FFFF) | ((uint)rng.Next(127 - 26, 127 + 18) << 23);
        }

        return bits;
    }
}

/// <summary><see cref="LowRows.NarrowPair{T}"/> and <see cref="LowRows.Narrow{T}"/> for bfloat16 (the streamed K-dim
/// lines and row pairs; the other gradient stores) against <see cref="BFloat16"/>'s scalar cast, bit for bit: every
/// float at or next to a bfloat16 rounding boundary (low half 0x7FFF, 0x8000, 0x8001 under every upper half: the ties
/// of both parities), every NaN's quiet form, and the values either side of the infinities.</summary>
public sealed unsafe class BFloat16VectorTests
{
    [VectorWidthFact(512)]
    public void NarrowPairIsTheCastAtEveryRoundingBoundaryAndForEveryNaN()
    {
        var bits = new List<uint>();
        for (uint high = 0; high <= 0xFFFF; high++)
        {
            foreach (uint low in new uint[] { 0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF })
            {
                bits.Add(high << 16 | low);
            }
        }

        // A multiple of 32, for whole pairs.
        while (bits.Count % 32 != 0)
        {
            bits.Add(0x7F7F_FFFF);
        }

        uint[] input = bits.ToArray();
        var output = new ushort[input.Length];
        var single = new ushort[input.Length];
        fixed (uint* pi = input)
        fixed (ushort* po = output, ps = single)
        {
            for (int i = 0; i < input.Length; i += 32)
            {
                LowRows.NarrowPair<BFloat16>(Vector512.Load((float*)pi + i), Vector512.Load((float*)pi + i + 16)).Store(po + i);
                LowRows.Narrow<BFloat16>(Vector512.Load((float*)pi + i)).Store(ps + i);
                LowRows.Narrow<BFloat16>(Vector512.Load((float*)pi + i + 16)).Store(ps + i + 16);
            }
        }

        for (int i = 0; i < input.Length; i++)
        {
            ushort expected = ((BFloat16)BitConverter.UInt32BitsToSingle(input[i])).RawValue;
            Assert.True(output[i] == expected, $"NarrowPair of 0x{input[i]:X8}: 0x{output[i]:X4}, the cast gives 0x{expected:X4}");
            Assert.True(single[i] == expected, $"Narrow of 0x{input[i]:X8}: 0x{single[i]:X4}, the cast gives 0x{expected:X4}");
        }
    }
}
