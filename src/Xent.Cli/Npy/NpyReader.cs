using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Xent.Cli.Npy;

/// <summary>
/// Reads NumPy .npy files (format versions 1.0, 2.0 and 3.0) into C-order, little-endian <see cref="NpyArray"/>s.
/// </summary>
/// <remarks>
/// Every check runs before the data buffer is allocated: the magic string, the version, the header length (at
/// most <see cref="MaxHeaderLength"/> bytes and within the file), the header dict, the dtype, the shape and its
/// checked element and byte counts, and the exact length of the data that follows. Any byte content either loads
/// or throws <see cref="NpyFormatException"/> with a one-line message naming the file; I/O failures of the
/// underlying file or stream (<see cref="IOException"/> and friends) pass through unwrapped.
/// Big-endian data is byte-swapped and Fortran-order data is transposed to C order on load.
/// </remarks>
internal static class NpyReader
{
    /// <summary>
    /// The largest header accepted, in bytes. NumPy itself refuses headers over 10 000 characters unless told to
    /// trust the file; a valid header is under 2 KiB even at 64 dimensions.
    /// </summary>
    public const int MaxHeaderLength = 1 << 20;

    /// <summary>The name used in error messages for a stream read without a name.</summary>
    private const string UnnamedStream = "<stream>";

    /// <summary>The magic string plus the two version bytes.</summary>
    private const int PreambleLength = 8;

    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private static readonly Encoding StrictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads the .npy file at <paramref name="path"/>.</summary>
    /// <param name="path">The file to read; also the name that starts every error message.</param>
    /// <exception cref="NpyFormatException">The file is not a valid .npy file of a supported dtype.</exception>
    /// <exception cref="IOException">The file is missing or cannot be read (including its subclasses).</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be opened for reading.</exception>
    public static NpyArray Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, FileOptions.SequentialScan);
        return Read(stream, path);
    }

    /// <summary>Reads one .npy array from <paramref name="stream"/>, which must end where the array's data ends.</summary>
    /// <param name="stream">The bytes of a .npy file, from its current position. Not closed.</param>
    /// <param name="nameForErrors">The name that starts every error message; <c>&lt;stream&gt;</c> if null.</param>
    /// <exception cref="NpyFormatException">The bytes are not a valid .npy file of a supported dtype.</exception>
    /// <exception cref="IOException">The stream fails.</exception>
    /// <remarks>
    /// A seekable stream is measured before anything is allocated. A non-seekable one (a pipe) is read in chunks
    /// that grow only as bytes actually arrive, so a header that lies about its size costs no more memory than the
    /// bytes behind it.
    /// </remarks>
    public static NpyArray Read(Stream stream, string? nameForErrors)
    {
        ArgumentNullException.ThrowIfNull(stream);
        string name = nameForErrors ?? UnnamedStream;

        Span<byte> prefix = stackalloc byte[PreambleLength + 4];
        int got = stream.ReadAtLeast(prefix[..PreambleLength], PreambleLength, throwOnEndOfStream: false);
        int lengthFieldSize = CheckPreamble(prefix[..got], name);
        got = stream.ReadAtLeast(prefix.Slice(PreambleLength, lengthFieldSize), lengthFieldSize, throwOnEndOfStream: false);
        int headerLength = ReadHeaderLength(prefix.Slice(PreambleLength, got), lengthFieldSize, name);

        if (stream.CanSeek && stream.Length - stream.Position < headerLength)
        {
            throw HeaderTruncated(name, headerLength, Math.Max(0, stream.Length - stream.Position));
        }

        byte[] headerBytes = new byte[headerLength];
        got = stream.ReadAtLeast(headerBytes, headerLength, throwOnEndOfStream: false);
        if (got < headerLength)
        {
            throw HeaderTruncated(name, headerLength, got);
        }

        NpyHeader header = ParseHeader(headerBytes, prefix[6], name);
        return Finish(header, ReadData(stream, header.ByteCount, name));
    }

    /// <summary>
    /// Reads and checks only the header of a seekable .npy stream, for callers that map the data in place instead of
    /// loading it: the same checks as <see cref="Read(Stream, string?)"/>, including the exact data length, but no
    /// limit on the data's size and no byte swapping or transposing (see <see cref="NpyHeader.BigEndian"/> and
    /// <see cref="NpyHeader.FortranOrder"/>).
    /// </summary>
    /// <param name="stream">A seekable stream at the start of a .npy file, which must end where the data ends.</param>
    /// <param name="nameForErrors">The name that starts every error message.</param>
    /// <param name="dataOffset">The position of the first data byte, counted from where the stream started.</param>
    /// <exception cref="NpyFormatException">The bytes are not a valid .npy file of a supported dtype.</exception>
    /// <exception cref="IOException">The stream fails.</exception>
    public static NpyHeader ReadHeader(Stream stream, string nameForErrors, out long dataOffset)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long start = stream.Position;
        Span<byte> prefix = stackalloc byte[PreambleLength + 4];
        int got = stream.ReadAtLeast(prefix[..PreambleLength], PreambleLength, throwOnEndOfStream: false);
        int lengthFieldSize = CheckPreamble(prefix[..got], nameForErrors);
        got = stream.ReadAtLeast(prefix.Slice(PreambleLength, lengthFieldSize), lengthFieldSize, throwOnEndOfStream: false);
        int headerLength = ReadHeaderLength(prefix.Slice(PreambleLength, got), lengthFieldSize, nameForErrors);
        if (stream.Length - stream.Position < headerLength)
        {
            throw HeaderTruncated(nameForErrors, headerLength, Math.Max(0, stream.Length - stream.Position));
        }

        byte[] headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        NpyHeader header = ParseHeader(headerBytes, prefix[6], nameForErrors);
        dataOffset = stream.Position - start;
        long found = stream.Length - stream.Position;
        if (found < header.ByteCount)
        {
            throw Truncated(nameForErrors, header.ByteCount, found);
        }

        if (found > header.ByteCount)
        {
            throw new NpyFormatException(
                nameForErrors, $"{found - header.ByteCount} unexpected bytes after the data: expected {header.ByteCount} bytes after the header, found {found}");
        }

        return header;
    }

    /// <summary>Reads a whole .npy file held in memory.</summary>
    /// <param name="bytes">Every byte of the file.</param>
    /// <param name="nameForErrors">The name that starts every error message; <c>&lt;stream&gt;</c> if null.</param>
    /// <exception cref="NpyFormatException">The bytes are not a valid .npy file of a supported dtype.</exception>
    public static NpyArray Parse(ReadOnlySpan<byte> bytes, string? nameForErrors = null)
    {
        string name = nameForErrors ?? UnnamedStream;
        int lengthFieldSize = CheckPreamble(bytes[..Math.Min(bytes.Length, PreambleLength)], name);
        ReadOnlySpan<byte> rest = bytes[PreambleLength..];
        int headerLength = ReadHeaderLength(rest[..Math.Min(rest.Length, lengthFieldSize)], lengthFieldSize, name);
        rest = rest[lengthFieldSize..];
        if (rest.Length < headerLength)
        {
            throw HeaderTruncated(name, headerLength, rest.Length);
        }

        NpyHeader header = ParseHeader(rest[..headerLength], bytes[6], name);
        rest = rest[headerLength..];
        CheckDataLength(header.ByteCount, rest.Length, name);
        return Finish(header, rest.ToArray());
    }

    /// <summary>
    /// Checks the magic string and the version in the first bytes and returns the size of the header-length field
    /// that follows: 2 bytes in version 1.0, 4 in 2.0 and 3.0.
    /// </summary>
    private static int CheckPreamble(ReadOnlySpan<byte> preamble, string name)
    {
        if (preamble.IsEmpty)
        {
            throw new NpyFormatException(name, "not a .npy file: the file is empty");
        }

        int magicLength = Math.Min(preamble.Length, Magic.Length);
        if (!preamble[..magicLength].SequenceEqual(Magic[..magicLength]))
        {
            throw new NpyFormatException(
                name, $"not a .npy file: it does not start with the magic string \\x93NUMPY (found {Hex(preamble[..magicLength])})");
        }

        if (preamble.Length < PreambleLength)
        {
            throw new NpyFormatException(name, $"file is too short to be a .npy file ({preamble.Length} bytes)");
        }

        return (preamble[6], preamble[7]) switch
        {
            (1, 0) => 2,
            (2, 0) or (3, 0) => 4,
            var (major, minor) => throw new NpyFormatException(
                name, $"unsupported .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)"),
        };
    }

    private static int ReadHeaderLength(ReadOnlySpan<byte> field, int fieldSize, string name)
    {
        if (field.Length < fieldSize)
        {
            throw new NpyFormatException(name, $"file is too short to be a .npy file ({PreambleLength + field.Length} bytes)");
        }

        uint length = fieldSize == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(field) : BinaryPrimitives.ReadUInt32LittleEndian(field);
        if (length > MaxHeaderLength)
        {
            throw new NpyFormatException(name, $"header length {length} is too large (at most {MaxHeaderLength} bytes)");
        }

        return (int)length;
    }

    /// <summary>Decodes the header as its version says (Latin-1 in 1.0 and 2.0, UTF-8 in 3.0) and parses it.</summary>
    private static NpyHeader ParseHeader(ReadOnlySpan<byte> bytes, byte major, string name)
    {
        string text;
        if (major == 3)
        {
            try
            {
                text = StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw new NpyFormatException(name, "the header is not valid UTF-8 (required by format version 3.0)");
            }
        }
        else
        {
            text = Encoding.Latin1.GetString(bytes);
        }

        return NpyHeader.Parse(text, name);
    }

    private static byte[] ReadData(Stream stream, long byteCount, string name)
    {
        if (stream.CanSeek)
        {
            CheckDataLength(byteCount, Math.Max(0, stream.Length - stream.Position), name);
            byte[] data = new byte[byteCount];
            int got = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
            if (got < data.Length)
            {
                // The stream shrank after it was measured.
                throw Truncated(name, byteCount, got);
            }

            return data;
        }

        CheckLoadable(byteCount, name);

        // Grow as the bytes arrive, so a header that claims gigabytes over a short pipe allocates little.
        byte[] buffer = new byte[Math.Min(byteCount, 1 << 20)];
        int filled = 0;
        while (filled < byteCount)
        {
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min(byteCount, 2L * buffer.Length));
            }

            int read = stream.Read(buffer, filled, buffer.Length - filled);
            if (read == 0)
            {
                throw Truncated(name, byteCount, filled);
            }

            filled += read;
        }

        Span<byte> probe = stackalloc byte[1];
        if (stream.Read(probe) != 0)
        {
            throw new NpyFormatException(
                name, $"unexpected bytes after the data: expected {byteCount} bytes after the header, found more");
        }

        return buffer;
    }

    private static void CheckDataLength(long expected, long found, string name)
    {
        if (found < expected)
        {
            throw Truncated(name, expected, found);
        }

        if (found > expected)
        {
            throw new NpyFormatException(
                name, $"{found - expected} unexpected bytes after the data: expected {expected} bytes after the header, found {found}");
        }

        CheckLoadable(expected, name);
    }

    private static void CheckLoadable(long byteCount, string name)
    {
        if (byteCount > Array.MaxLength)
        {
            throw new NpyFormatException(
                name, $"array too large ({byteCount} bytes; at most {Array.MaxLength} bytes can be loaded)");
        }
    }

    /// <summary>Byte-swaps big-endian data and transposes Fortran-order data, then wraps the result.</summary>
    private static NpyArray Finish(NpyHeader header, byte[] data)
    {
        if (header.BigEndian)
        {
            SwapBytes(data, header.DType.ItemSize());
        }

        if (header.FortranOrder && header.Shape.Length > 1)
        {
            data = FortranToC(data, header.Shape, header.DType.ItemSize());
        }

        return new NpyArray(header.DType, header.Shape, data);
    }

    private static void SwapBytes(byte[] data, int itemSize)
    {
        switch (itemSize)
        {
            case 2:
                Span<ushort> u16 = MemoryMarshal.Cast<byte, ushort>(data.AsSpan());
                BinaryPrimitives.ReverseEndianness(u16, u16);
                break;
            case 4:
                Span<uint> u32 = MemoryMarshal.Cast<byte, uint>(data.AsSpan());
                BinaryPrimitives.ReverseEndianness(u32, u32);
                break;
            case 8:
                Span<ulong> u64 = MemoryMarshal.Cast<byte, ulong>(data.AsSpan());
                BinaryPrimitives.ReverseEndianness(u64, u64);
                break;
        }
    }

    /// <summary>Reorders column-major <paramref name="data"/> of <paramref name="shape"/> into row-major order.</summary>
    internal static byte[] FortranToC(byte[] data, long[] shape, int itemSize)
    {
        byte[] result = new byte[data.Length];
        switch (itemSize)
        {
            case 1: FortranToC<byte>(data, result, shape); break;
            case 2: FortranToC<ushort>(data, result, shape); break;
            case 4: FortranToC<uint>(data, result, shape); break;
            default: FortranToC<ulong>(data, result, shape); break;
        }

        return result;
    }

    /// <remarks>
    /// Walks the destination in C order. Element (i0, …, in-1) sits at Fortran offset Σ ik·sk with s0 = 1 and
    /// sk = sk-1·dk-1; the innermost C index runs with stride sn-1, and an odometer over the outer indices adds sk
    /// on each step and takes back sk·dk on each carry.
    /// </remarks>
    private static void FortranToC<T>(byte[] source, byte[] destination, long[] shape) where T : unmanaged
    {
        ReadOnlySpan<T> src = MemoryMarshal.Cast<byte, T>(source);
        Span<T> dst = MemoryMarshal.Cast<byte, T>(destination.AsSpan());
        if (dst.IsEmpty)
        {
            return;
        }

        // The data fits in one byte[], so every dimension, stride and offset fits in an int.
        int rank = shape.Length;
        Span<int> dims = stackalloc int[rank];
        Span<int> strides = stackalloc int[rank];
        Span<int> index = stackalloc int[rank];
        int stride = 1;
        for (int k = 0; k < rank; k++)
        {
            dims[k] = (int)shape[k];
            strides[k] = stride;
            stride *= dims[k];
        }

        int inner = dims[rank - 1];
        int innerStride = strides[rank - 1];
        int offset = 0;
        int d = 0;
        while (true)
        {
            for (int j = 0, o = offset; j < inner; j++, o += innerStride)
            {
                dst[d++] = src[o];
            }

            int k = rank - 2;
            for (; k >= 0; k--)
            {
                offset += strides[k];
                if (++index[k] < dims[k])
                {
                    break;
                }

                offset -= strides[k] * dims[k];
                index[k] = 0;
            }

            if (k < 0)
            {
                return;
            }
        }
    }

    private static NpyFormatException HeaderTruncated(string name, long expected, long found) =>
        new(name, $"header is truncated: the header length field says {expected} bytes, but only {found} follow");

    private static NpyFormatException Truncated(string name, long expected, long found) =>
        new(name, $"data is truncated: expected {expected} bytes after the header, found {found}");

    private static string Hex(ReadOnlySpan<byte> bytes) =>
        string.Join(' ', bytes.ToArray().Select(b => b.ToString("x2")));
}
