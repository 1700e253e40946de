using System.Diagnostics.CodeAnalysis;

namespace Xent.Cli.Npy;

/// <summary>The element types that <see cref="NpyReader"/> loads and <see cref="NpyWriter"/> writes.</summary>
/// <remarks>
/// Each maps one-to-one onto a NumPy dtype and a .NET element type: <c>&lt;f2</c> is <see cref="Half"/>,
/// <c>&lt;f4</c> is <see cref="float"/>, <c>&lt;f8</c> is <see cref="double"/>, <c>&lt;i8</c> is <see cref="long"/>,
/// <c>|u1</c> is <see cref="byte"/>, and so on. Booleans, complex numbers, strings, datetimes, objects and
/// structured dtypes are not representable.
/// </remarks>
internal enum NpyDType
{
    Float16,
    Float32,
    Float64,
    Int64,
    Int32,
    UInt8,
    Int8,
    Int16,
    UInt16,
    UInt32,
    UInt64,
}

/// <summary>Facts about each <see cref="NpyDType"/>: size, canonical descr, .NET type, and descr parsing.</summary>
internal static class NpyDTypes
{
    /// <summary>The canonical descrs of every supported dtype, as NumPy writes them on a little-endian machine.</summary>
    public const string SupportedList = "<f2, <f4, <f8, <i8, <i4, <i2, |i1, |u1, <u2, <u4, <u8";

    /// <summary>The size of one element in bytes.</summary>
    public static int ItemSize(this NpyDType dtype) => dtype switch
    {
        NpyDType.UInt8 or NpyDType.Int8 => 1,
        NpyDType.Float16 or NpyDType.Int16 or NpyDType.UInt16 => 2,
        NpyDType.Float32 or NpyDType.Int32 or NpyDType.UInt32 => 4,
        NpyDType.Float64 or NpyDType.Int64 or NpyDType.UInt64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>Whether the dtype is a binary floating-point type.</summary>
    public static bool IsFloat(this NpyDType dtype) => dtype is NpyDType.Float16 or NpyDType.Float32 or NpyDType.Float64;

    /// <summary>The descr NumPy writes for this dtype in little-endian byte order: <c>&lt;f4</c>, <c>|u1</c>, …</summary>
    /// <remarks>One-byte types carry NumPy's "not applicable" byte order <c>|</c>, as <c>np.dtype('u1').str</c> does.</remarks>
    public static string Descr(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float16 => "<f2",
        NpyDType.Float32 => "<f4",
        NpyDType.Float64 => "<f8",
        NpyDType.Int64 => "<i8",
        NpyDType.Int32 => "<i4",
        NpyDType.UInt8 => "|u1",
        NpyDType.Int8 => "|i1",
        NpyDType.Int16 => "<i2",
        NpyDType.UInt16 => "<u2",
        NpyDType.UInt32 => "<u4",
        NpyDType.UInt64 => "<u8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>The .NET element type whose in-memory layout matches one little-endian element.</summary>
    public static Type ElementType(this NpyDType dtype) => dtype switch
    {
        NpyDType.Float16 => typeof(Half),
        NpyDType.Float32 => typeof(float),
        NpyDType.Float64 => typeof(double),
        NpyDType.Int64 => typeof(long),
        NpyDType.Int32 => typeof(int),
        NpyDType.UInt8 => typeof(byte),
        NpyDType.Int8 => typeof(sbyte),
        NpyDType.Int16 => typeof(short),
        NpyDType.UInt16 => typeof(ushort),
        NpyDType.UInt32 => typeof(uint),
        NpyDType.UInt64 => typeof(ulong),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>The dtype whose elements are <typeparamref name="T"/>, if there is one.</summary>
    public static bool TryFromElementType<T>(out NpyDType dtype) where T : unmanaged
    {
        // typeof(T) comparisons are folded by the JIT for value types, so this is free after inlining.
        if (typeof(T) == typeof(Half)) { dtype = NpyDType.Float16; return true; }
        if (typeof(T) == typeof(float)) { dtype = NpyDType.Float32; return true; }
        if (typeof(T) == typeof(double)) { dtype = NpyDType.Float64; return true; }
        if (typeof(T) == typeof(long)) { dtype = NpyDType.Int64; return true; }
        if (typeof(T) == typeof(int)) { dtype = NpyDType.Int32; return true; }
        if (typeof(T) == typeof(byte)) { dtype = NpyDType.UInt8; return true; }
        if (typeof(T) == typeof(sbyte)) { dtype = NpyDType.Int8; return true; }
        if (typeof(T) == typeof(short)) { dtype = NpyDType.Int16; return true; }
        if (typeof(T) == typeof(ushort)) { dtype = NpyDType.UInt16; return true; }
        if (typeof(T) == typeof(uint)) { dtype = NpyDType.UInt32; return true; }
        if (typeof(T) == typeof(ulong)) { dtype = NpyDType.UInt64; return true; }
        dtype = default;
        return false;
    }

    /// <summary>
    /// Parses a NumPy descr string such as <c>&lt;f4</c> or <c>&gt;i8</c>. On failure, <paramref name="reason"/>
    /// says why in a few words, for the parenthesis of an "unsupported dtype" message.
    /// </summary>
    public static bool TryParseDescr(
        string descr, out NpyDType dtype, out bool bigEndian, [NotNullWhen(false)] out string? reason)
    {
        dtype = default;
        bigEndian = false;
        if (descr.Length < 2)
        {
            reason = "expected a byte order, a kind and a size, e.g. '<f4'";
            return false;
        }

        char order = descr[0];
        if (order is not ('<' or '>' or '|'))
        {
            reason = order == '='
                ? "native byte order '=' does not say which byte order the file holds"
                : "expected one of " + SupportedList;
            return false;
        }

        string code = descr[1..];
        switch (code)
        {
            case "f2": dtype = NpyDType.Float16; break;
            case "f4": dtype = NpyDType.Float32; break;
            case "f8": dtype = NpyDType.Float64; break;
            case "i8": dtype = NpyDType.Int64; break;
            case "i4": dtype = NpyDType.Int32; break;
            case "u1": dtype = NpyDType.UInt8; break;
            case "i1": dtype = NpyDType.Int8; break;
            case "i2": dtype = NpyDType.Int16; break;
            case "u2": dtype = NpyDType.UInt16; break;
            case "u4": dtype = NpyDType.UInt32; break;
            case "u8": dtype = NpyDType.UInt64; break;
            default:
                reason = code[0] switch
                {
                    'O' => "object arrays cannot be read",
                    'b' or '?' => "boolean arrays are not supported; save them as uint8",
                    'c' => "complex arrays are not supported",
                    'U' or 'S' or 'a' => "string arrays are not supported",
                    'V' => "void and structured arrays are not supported",
                    'M' or 'm' => "datetime and timedelta arrays are not supported",
                    'f' => "only 2-, 4- and 8-byte floats are supported",
                    _ => "expected one of " + SupportedList,
                };
                return false;
        }

        if (order == '|' && dtype.ItemSize() > 1)
        {
            reason = "byte order '|' is only valid for 1-byte types";
            return false;
        }

        bigEndian = order == '>' && dtype.ItemSize() > 1;
        reason = null;
        return true;
    }
}
