using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Xent.Cli.Npy;

/// <summary>Writes arrays as NumPy .npy files, byte for byte as <c>numpy.save</c> does.</summary>
/// <remarks>
/// The header is <c>{'descr': …, 'fortran_order': False, 'shape': …, }</c>, padded with spaces and a final
/// newline so the data starts at a multiple of 64 bytes (NumPy's <c>ARRAY_ALIGN</c>), in format 1.0. Files are
/// written atomically through <see cref="AtomicFile"/>.
/// </remarks>
internal static class NpyWriter
{
    /// <summary>NumPy aligns the data start to this many bytes.</summary>
    private const int ArrayAlign = 64;

    /// <summary>
    /// NumPy 1.24+ adds spaces for 21 − len(repr(shape[0])) more digits so the growing axis can be rewritten in
    /// place (<c>GROWTH_AXIS_MAX_DIGITS</c> in <c>numpy/lib/format.py</c>); matching it keeps the bytes identical.
    /// </summary>
    private const int GrowthAxisMaxDigits = 21;

    /// <summary>Writes <paramref name="data"/> with <paramref name="shape"/> to the .npy file <paramref name="path"/>, atomically.</summary>
    /// <typeparam name="T">
    /// The element type: <see cref="float"/>, <see cref="double"/>, <see cref="Half"/>, <see cref="long"/>,
    /// <see cref="int"/>, <see cref="byte"/>, or one of the other integer types of <see cref="NpyDType"/>.
    /// </typeparam>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="data">The elements in C order.</param>
    /// <param name="shape">The dimensions; empty for a scalar.</param>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no .npy dtype here.</exception>
    /// <exception cref="ArgumentException">
    /// A dimension is negative, the shape does not hold <paramref name="data"/>.Length elements, or it has more
    /// than 64 dimensions.
    /// </exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException">The file cannot be written; <paramref name="path"/> is left as it was.</exception>
    public static void Write<T>(string path, ReadOnlySpan<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        NpyDType dtype = NpyArray.DTypeOf<T>();
        long count = NpyArray.CountElements(shape, nameof(shape));
        if (count != data.Length)
        {
            throw new ArgumentException(
                $"data has {data.Length} elements, but shape {NpyArray.FormatShape(shape)} holds {count}.", nameof(data));
        }

        WriteFile(path, BuildHeader(dtype, shape), MemoryMarshal.AsBytes(data));
    }

    /// <summary>Writes <paramref name="data"/> with <paramref name="shape"/> as .npy bytes to <paramref name="stream"/>.</summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no .npy dtype here.</exception>
    /// <exception cref="ArgumentException">
    /// A dimension is negative, the shape does not hold <paramref name="data"/>.Length elements, or it has more
    /// than 64 dimensions.
    /// </exception>
    public static void Write<T>(Stream stream, ReadOnlySpan<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(stream);
        NpyDType dtype = NpyArray.DTypeOf<T>();
        long count = NpyArray.CountElements(shape, nameof(shape));
        if (count != data.Length)
        {
            throw new ArgumentException(
                $"data has {data.Length} elements, but shape {NpyArray.FormatShape(shape)} holds {count}.", nameof(data));
        }

        stream.Write(BuildHeader(dtype, shape));
        stream.Write(MemoryMarshal.AsBytes(data));
    }

    /// <summary>Writes <paramref name="array"/> to the .npy file <paramref name="path"/>, atomically.</summary>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException">The file cannot be written; <paramref name="path"/> is left as it was.</exception>
    public static void Write(string path, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(array);
        WriteFile(path, BuildHeader(array.DType, array.Shape), array.Data);
    }

    /// <summary>Writes <paramref name="array"/> as .npy bytes to <paramref name="stream"/> (not atomic; for pipes).</summary>
    public static void Write(Stream stream, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(array);
        stream.Write(BuildHeader(array.DType, array.Shape));
        stream.Write(array.Data);
    }

    /// <summary>
    /// The magic string, version, header length and padded header dict that precede the data, exactly as
    /// <c>numpy.lib.format._write_array_header</c> builds them.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="shape"/> has more than <see cref="NpyHeader.MaxRank"/> dimensions.</exception>
    internal static byte[] BuildHeader(NpyDType dtype, ReadOnlySpan<long> shape)
    {
        if (shape.Length > NpyHeader.MaxRank)
        {
            throw new ArgumentException(
                $"shape has {shape.Length} dimensions; .npy readers accept at most {NpyHeader.MaxRank}.", nameof(shape));
        }

        // Keys sorted, each "'key': repr(value), ", as numpy does; a 1-tuple keeps its comma.
        var dict = new StringBuilder();
        dict.Append("{'descr': '").Append(dtype.Descr()).Append("', 'fortran_order': False, 'shape': ")
            .Append(NpyHeader.FormatTuple(shape)).Append(", }");
        if (shape.Length > 0)
        {
            int digits = shape[0].ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
            dict.Append(' ', Math.Max(0, GrowthAxisMaxDigits - digits));
        }

        // numpy: hlen = len(header) + 1 for the newline; pad = 64 - (prefix + hlen) % 64, so 1..64 spaces. At most
        // 64 dimensions of at most 19 digits keep the header far below the 65535 bytes of a 1.0 length field.
        const int PrefixLength = 6 + 2 + 2;
        int padding = ArrayAlign - ((PrefixLength + dict.Length + 1) % ArrayAlign);
        dict.Append(' ', padding).Append('\n');

        byte[] header = new byte[PrefixLength + dict.Length];
        ReadOnlySpan<byte> magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
        magic.CopyTo(header);
        header[6] = 1;
        header[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), checked((ushort)dict.Length));
        Encoding.Latin1.GetBytes(dict.ToString(), header.AsSpan(PrefixLength));
        return header;
    }

    private static void WriteFile(string path, byte[] header, ReadOnlySpan<byte> data)
    {
        using AtomicFile file = AtomicFile.Create(path);
        file.Stream.Write(header);
        file.Stream.Write(data);
        file.Commit();
    }
}
