using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>In-register conversions between IEEE binary16 (<see cref="Half"/>, as its raw bits) and float32, 16 or 8
/// lanes at a time, bit for bit what .NET's scalar <c>(float)Half</c> and <c>(Half)float</c> casts return for every input.
/// .NET 10 exposes no F16C (<c>vcvtph2ps</c>, <c>vcvtps2ph</c>), so the fused Half kernels convert with these.</summary>
/// <remarks>
/// <para>Widening: with the sign in bit 31 and the half's exponent and mantissa shifted into bits 13..27, the bit
/// pattern is the half's value times 2^−112 (a float subnormal when the half is one), so one multiply by 2^112 gives the
/// value exactly, sign included. Inf and NaN (exponent 31) first get the float's all-ones exponent; the multiply then
/// quiets a signalling NaN and keeps its payload, as the scalar cast does (0x7C01 widens to 0x7FC02000).</para>
/// <para>Narrowing: with x = min(|f|, 65520) and c = 2^max(e, −14), e being x's exponent, one FMA
/// s = 8194·c + x = 2^(e+13) + 2^(e+1) + x rounds x to a multiple of 2^(e−10), a half's step, ties to even (below 2^−14
/// the step stays 2^−24: subnormal results are rounded once, correctly), with no subnormal intermediate. s's exponent
/// field is then e + 140 and its mantissa field 2048 + m, m ≤ 2048 the rounded significand, so the low 16 bits of
/// s + (s ≫ 13) are ((e + 142) ≪ 10) + m ≡ ((e + 14) ≪ 10) + m: the half's exponent and mantissa (65520 rounds up to
/// 0x7C00, infinity). A NaN goes through the FMA quieted, and s ≫ 13 alone is then 0x7E00 | (payload ≫ 13), the
/// scalar cast's quiet NaN (0x7F802000 narrows to 0x7E01). The sign is copied from bit 31 last.</para>
/// <para>Instructions per conversion after the JIT (DOTNET_JitDisasm, loads and stores aside): 512-bit widen 7 (6 in
/// <see cref="Load(Half*)"/>, whose vpmovsxwd already sign-extends), 512-bit narrow 9 plus the vpmovdw store;
/// 256-bit widen 8 (7 in <see cref="Load256(Half*)"/>), 256-bit narrow 13 plus vextracti128 and vpackusdw to store,
/// each one fewer where the JIT has vpternlogd. The 512-bit forms need AVX-512 F, BW and DQ (vrangeps); the 256-bit
/// forms need AVX2 and FMA.</para>
/// </remarks>
internal static unsafe class HalfVectors
{
    /// <summary>The half's exponent and mantissa bits.</summary>
    private const uint HalfMagnitude = 0x7FFF;

    /// <summary>Bits of a half with exponent 31: infinity from here up, NaN above it.</summary>
    private const uint HalfInfinity = 0x7C00;

    /// <summary>Sign, and a half's exponent and mantissa, once it is shifted left by 13.</summary>
    private const uint SignAndShiftedMagnitude = 0x8FFF_E000;

    /// <summary>A float's exponent bits.</summary>
    private const uint SingleExponent = 0x7F80_0000;

    /// <summary>2^112 = 2^(127 − 15): a half's value from its bits shifted into a float's.</summary>
    private const float HalfToSingleScale = 5.192296858534828e33f;

    /// <summary>The smallest finite float that rounds to half infinity: halfway between 65504 and 65536.</summary>
    private const float HalfOverflow = 65520f;

    /// <summary>The bits of 2^−14, the smallest normal half: below it a half's step is fixed at 2^−24.</summary>
    private const uint MinNormalHalfAsSingle = 0x3880_0000;

    /// <summary>2^13 + 2: 2^e times this, added to x in [2^e, 2^(e+1)), leaves a float whose last mantissa bit is
    /// worth 2^(e−10), a half's step.</summary>
    private const float RoundingScale = 8194f;

    /// <summary>Whether the 512-bit conversions run here.</summary>
    public static bool IsVector512Supported =>
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>Whether the 256-bit conversions run here.</summary>
    public static bool IsVector256Supported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Widens 16 halves to floats exactly.</summary>
    /// <param name="halfBits">The halves' bits, zero-extended in each lane (the upper 16 bits are ignored).</param>
    /// <returns>The halves' values.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> halfBits) =>
        Widen((halfBits << 16).AsInt32() >> 3, halfBits);

    /// <summary>Loads 16 halves and widens them to floats exactly.</summary>
    /// <param name="source">The first of 16 halves.</param>
    /// <returns>The halves' values.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(Half* source)
    {
        // vpmovsxwd: sign-extended, a left shift by 13 puts the sign in bit 31 too.
        Vector512<int> bits = Avx512F.ConvertToVector512Int32(Vector256.Load((short*)source));
        return Widen(bits << 13, bits.AsUInt32());
    }

    /// <summary>What <see cref="LoadDownscaled"/> returns, times this, is the halves' values: 2^112.</summary>
    public const float DownscaledToSingle = HalfToSingleScale;

    /// <summary>A half infinity as <see cref="LoadDownscaled"/> reads it, times <see cref="DownscaledToSingle"/>: 2^16,
    /// and the least magnitude that a NaN takes there. Every finite half is at most 65504.</summary>
    public const float InfinityAsSingle = 65536f;

    /// <summary>Loads 16 halves as their values times 2^−112 (exact), without <see cref="Load(Half*)"/>'s case for
    /// infinity and NaN: 4 instructions instead of 7. An infinity or NaN comes out finite and, times 2^112, at least
    /// <see cref="InfinityAsSingle"/> in magnitude, so a caller that tracks the max and min can tell.</summary>
    /// <param name="source">The first of 16 halves.</param>
    /// <returns>The halves' values times 2^−112 (subnormal floats for half subnormals).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadDownscaled(Half* source)
    {
        Vector512<int> bits = Avx512F.ConvertToVector512Int32(Vector256.Load((short*)source));
        return ((bits << 13).AsUInt32() & Vector512.Create(SignAndShiftedMagnitude)).AsSingle();
    }

    /// <summary><see cref="LoadDownscaled"/> for halves held in the upper 16 bits of each lane (as a gather of dwords
    /// reads them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DownscaledFromUpperHalves(Vector512<int> dwords) =>
        ((dwords >> 3).AsUInt32() & Vector512.Create(SignAndShiftedMagnitude)).AsSingle();

    /// <summary>Rounds 16 floats to halves, exactly as the scalar <c>(Half)float</c> cast does.</summary>
    /// <param name="value">The floats.</param>
    /// <returns>The halves' bits, zero-extended in each lane.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> ToHalfBits(Vector512<float> value)
    {
        // vrangeps 0x0A is min(|value|, 65520) in one instruction, but it returns 65520 for a quiet NaN: NaN lanes keep
        // value. The compare is written twice so that the JIT keeps one k register and masks vrangeps and vpaddd with
        // it; a shared Vector512 local is materialised as a vector and blended (4 more instructions, checked). The sign
        // is taken first, so that the masked vrangeps can overwrite value's register.
        Vector512<uint> sign = value.AsUInt32() >> 16;
        Vector512<float> x = Vector512.ConditionalSelect(
            Vector512.Equals(value, value), Avx512DQ.Range(value, Vector512.Create(HalfOverflow), 0x0A), value);
        Vector512<uint> exponent = Vector512.Max(x.AsUInt32(), Vector512.Create(MinNormalHalfAsSingle)) & Vector512.Create(SingleExponent);
        Vector512<uint> s = Avx512F.FusedMultiplyAdd(exponent.AsSingle(), Vector512.Create(RoundingScale), x).AsUInt32();
        Vector512<uint> shifted = s >> 13;
        Vector512<uint> magnitude = Vector512.ConditionalSelect(Vector512.Equals(value, value).AsUInt32(), shifted + s, shifted);

        // Bits 0..14 from the magnitude, bit 15 (the sign) and up from value >> 16: (A & C) | (B & ~C).
        return Avx512F.TernaryLogic(magnitude, sign, Vector512.Create(HalfMagnitude), 0xE4);
    }

    /// <summary>2^−14, the least normal half: below it halves are the multiples of 2^−24.</summary>
    public const float MinNormalHalf = 6.1035156e-5f;

    /// <summary><see cref="ToHalfBits(Vector512{float})"/> for values below <see cref="MinNormalHalf"/> in magnitude
    /// (the caller makes sure): |value|·2^24 + 1.5·2^23 rounds, to nearest even as the scalar cast does, to the half's
    /// magnitude bits (a count of 2^−24 up to 1024, 2^−14's bits) in the float's low bits. 4 instructions instead of 9.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> TinyToHalfBits(Vector512<float> value) => TinyToHalfBits(value, Vector512.Abs(value));

    /// <summary><see cref="TinyToHalfBits(Vector512{float})"/> with |value| already at hand.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> TinyToHalfBits(Vector512<float> value, Vector512<float> magnitude)
    {
        Vector512<uint> sign = value.AsUInt32() >> 16;
        Vector512<uint> bits = Avx512F.FusedMultiplyAdd(magnitude, Vector512.Create(16777216f), Vector512.Create(12582912f)).AsUInt32();
        return Avx512F.TernaryLogic(bits, sign, Vector512.Create(HalfMagnitude), 0xE4);
    }

    /// <summary>Rounds 16 floats to halves, as the scalar <c>(Half)float</c> cast does, and stores them.</summary>
    /// <param name="value">The floats.</param>
    /// <param name="destination">Where the 16 halves go.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, Half* destination) =>
        Avx512F.ConvertToVector256UInt16(ToHalfBits(value)).Store((ushort*)destination);

    /// <summary>Widens 8 halves to floats exactly.</summary>
    /// <param name="halfBits">The halves' bits, zero-extended in each lane (the upper 16 bits are ignored).</param>
    /// <returns>The halves' values.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> halfBits) =>
        Widen((halfBits << 16).AsInt32() >> 3, halfBits);

    /// <summary>Loads 8 halves and widens them to floats exactly.</summary>
    /// <param name="source">The first of 8 halves.</param>
    /// <returns>The halves' values.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(Half* source)
    {
        Vector256<int> bits = Avx2.ConvertToVector256Int32((short*)source);
        return Widen(bits << 13, bits.AsUInt32());
    }

    /// <summary>Rounds 8 floats to halves, exactly as the scalar <c>(Half)float</c> cast does.</summary>
    /// <param name="value">The floats.</param>
    /// <returns>The halves' bits, zero-extended in each lane.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> ToHalfBits(Vector256<float> value)
    {
        // minps returns its second operand when either is NaN, so a NaN comes through (vrangeps is AVX-512).
        Vector256<float> x = Avx.Min(Vector256.Create(HalfOverflow), Vector256.Abs(value));
        Vector256<uint> exponent = Vector256.Max(x.AsUInt32(), Vector256.Create(MinNormalHalfAsSingle)) & Vector256.Create(SingleExponent);
        Vector256<uint> s = Fma.MultiplyAdd(exponent.AsSingle(), Vector256.Create(RoundingScale), x).AsUInt32();
        Vector256<uint> magnitude = (s >> 13) + (s & Vector256.Equals(value, value).AsUInt32());
        return (magnitude & Vector256.Create(HalfMagnitude)) | ((value.AsUInt32() >> 16) & Vector256.Create(~HalfMagnitude & 0xFFFF));
    }

    /// <summary>Rounds 8 floats to halves, as the scalar <c>(Half)float</c> cast does, and stores them.</summary>
    /// <param name="value">The floats.</param>
    /// <param name="destination">Where the 8 halves go.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, Half* destination)
    {
        Vector256<int> bits = ToHalfBits(value).AsInt32();
        Sse41.PackUnsignedSaturate(bits.GetLower(), bits.GetUpper()).Store((ushort*)destination);
    }

    /// <summary>The float from <paramref name="shifted"/>, a half's bits shifted left by 13 with the sign moved to bit
    /// 31, and <paramref name="bits"/>, whose low 15 bits are the half's exponent and mantissa.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen(Vector512<int> shifted, Vector512<uint> bits)
    {
        Vector512<uint> s = shifted.AsUInt32() & Vector512.Create(SignAndShiftedMagnitude);
        Vector512<uint> special = Vector512.GreaterThanOrEqual(bits & Vector512.Create(HalfMagnitude), Vector512.Create(HalfInfinity));
        s = Vector512.ConditionalSelect(special, s | Vector512.Create(SingleExponent), s);
        return s.AsSingle() * Vector512.Create(HalfToSingleScale);
    }

    /// <inheritdoc cref="Widen(Vector512{int}, Vector512{uint})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<int> shifted, Vector256<uint> bits)
    {
        Vector256<uint> s = shifted.AsUInt32() & Vector256.Create(SignAndShiftedMagnitude);
        Vector256<int> special = Vector256.GreaterThan((bits & Vector256.Create(HalfMagnitude)).AsInt32(), Vector256.Create((int)HalfInfinity - 1));
        s |= special.AsUInt32() & Vector256.Create(SingleExponent);
        return s.AsSingle() * Vector256.Create(HalfToSingleScale);
    }
}
