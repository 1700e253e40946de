using System.Globalization;
using System.Runtime.CompilerServices;

namespace Xent;

/// <summary>A 16-bit brain floating-point number (1 sign, 8 exponent, 7 mantissa bits): the upper half of a
/// <see cref="float"/>, as PyTorch's <c>torch.bfloat16</c>. .NET 10 has no such type.</summary>
/// <remarks>Conversion from <see cref="float"/> rounds to nearest, ties to even, and keeps NaN a NaN (quiet), exactly as
/// PyTorch's <c>c10::BFloat16</c> constructor does; conversion to <see cref="float"/> is exact.</remarks>
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>, IFormattable
{
    private readonly ushort _bits;

    private BFloat16(ushort bits) => _bits = bits;

    /// <summary>Gets the raw 16 bits.</summary>
    public ushort RawValue => _bits;

    /// <summary>Creates a value from its raw 16 bits.</summary>
    /// <param name="bits">The bits: sign, 8 exponent bits, 7 mantissa bits.</param>
    /// <returns>The value with those bits.</returns>
    public static BFloat16 FromRawValue(ushort bits) => new(bits);

    /// <summary>Gets a value that is not a number.</summary>
    public static BFloat16 NaN => new(0x7FC0);

    /// <summary>Gets positive infinity.</summary>
    public static BFloat16 PositiveInfinity => new(0x7F80);

    /// <summary>Gets negative infinity.</summary>
    public static BFloat16 NegativeInfinity => new(0xFF80);

    /// <summary>Converts a <see cref="float"/> to the nearest <see cref="BFloat16"/> (ties to even).</summary>
    /// <param name="value">The value to convert.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static explicit operator BFloat16(float value) => new(RoundToBits(value));

    /// <summary>Converts a <see cref="double"/> to <see cref="BFloat16"/> through <see cref="float"/>, as PyTorch does.</summary>
    /// <param name="value">The value to convert.</param>
    public static explicit operator BFloat16(double value) => (BFloat16)(float)value;

    /// <summary>Converts to <see cref="float"/> exactly.</summary>
    /// <param name="value">The value to convert.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static implicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value._bits << 16);

    /// <summary>Converts to <see cref="double"/> exactly.</summary>
    /// <param name="value">The value to convert.</param>
    public static implicit operator double(BFloat16 value) => (float)value;

    /// <summary>Rounds a float to the upper 16 bits, nearest even; NaN stays a quiet NaN with its sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort RoundToBits(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Returns whether the value is NaN.</summary>
    /// <param name="value">The value.</param>
    /// <returns><see langword="true"/> when <paramref name="value"/> is not a number.</returns>
    public static bool IsNaN(BFloat16 value) => (value._bits & 0x7FFF) > 0x7F80;

    /// <inheritdoc/>
    public bool Equals(BFloat16 other) => ((float)this).Equals((float)other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => ((float)this).GetHashCode();

    /// <inheritdoc/>
    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);

    /// <summary>Compares two values as floats.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns>Whether they are equal as floats (NaN is unequal to everything).</returns>
    public static bool operator ==(BFloat16 left, BFloat16 right) => (float)left == (float)right;

    /// <summary>Compares two values as floats.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns>Whether they differ as floats.</returns>
    public static bool operator !=(BFloat16 left, BFloat16 right) => (float)left != (float)right;

    /// <inheritdoc/>
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ((float)this).ToString(format, formatProvider);
}
