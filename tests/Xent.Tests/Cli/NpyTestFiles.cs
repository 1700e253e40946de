using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Xent.Tests.Cli;

/// <summary>Hand-built .npy bytes and small streams for the reader, writer and fuzz tests.</summary>
internal static class NpyTestFiles
{
    /// <summary>
    /// The input of ONNX's test_nllloss_NC node test, as numpy wrote it: float32, shape (3, 5).
    /// </summary>
    public static readonly byte[] NumpyInputF4 = Convert.FromBase64String(
        "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsIDUpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoLfww/phY3P7NOGj93fQs/SOnYPlFZJT9uC+A+PEtkP5qydj9yUsQ+fq5KP6hlBz9eaxE/5/NsP1p7kT0=");

    /// <summary>The numpy-written int64 target (3,) = [1, 4, 3] of the same ONNX test case.</summary>
    public static readonly byte[] NumpyTargetI8 = Convert.FromBase64String(
        "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAAAAAAQAAAAAAAAAAwAAAAAAAAA=");

    /// <summary>
    /// The float32 values in <see cref="NumpyInputF4"/> (close to, but not all exactly, the float32 roundings of
    /// <c>np.random.seed(0); np.random.rand(15)</c>), decoded independently with Python's <c>struct.unpack</c>.
    /// </summary>
    public static readonly float[] NumpyInputValues =
    [
        0.548813522f, 0.715189338f, 0.602763355f, 0.544883192f, 0.423654795f,
        0.64589411f, 0.437587202f, 0.891772985f, 0.963662744f, 0.383441508f,
        0.791725039f, 0.528894901f, 0.568044543f, 0.925596654f, 0.0710360557f,
    ];

    /// <summary>
    /// Builds a .npy file around the header text <paramref name="dict"/>: magic, version, length field, the text
    /// padded with spaces and a newline to a 64-byte boundary (or as is, when <paramref name="pad"/> is false), data.
    /// </summary>
    public static byte[] Build(string dict, ReadOnlySpan<byte> data, byte major = 1, byte minor = 0, bool pad = true)
    {
        Encoding encoding = major == 3 ? new UTF8Encoding(false) : Encoding.Latin1;
        int fieldSize = major == 1 ? 2 : 4;
        byte[] text = encoding.GetBytes(dict);
        int headerLength = text.Length;
        if (pad)
        {
            headerLength = text.Length + 1;
            headerLength += (64 - ((6 + 2 + fieldSize + headerLength) % 64)) % 64;
        }

        var file = new byte[6 + 2 + fieldSize + headerLength + data.Length];
        WriteMagic(file, major, minor);
        if (fieldSize == 2)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(8), (ushort)headerLength);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(8), (uint)headerLength);
        }

        Span<byte> header = file.AsSpan(8 + fieldSize, headerLength);
        header.Fill((byte)' ');
        text.CopyTo(header);
        if (pad)
        {
            header[^1] = (byte)'\n';
        }

        data.CopyTo(file.AsSpan(8 + fieldSize + headerLength));
        return file;
    }

    /// <summary>Builds a file whose header is <c>{'descr': descr, 'fortran_order': …, 'shape': shape, }</c>.</summary>
    public static byte[] Build(string descr, string shape, ReadOnlySpan<byte> data, bool fortranOrder = false, byte major = 1) =>
        Build($"{{'descr': '{descr}', 'fortran_order': {(fortranOrder ? "True" : "False")}, 'shape': {shape}, }}", data, major);

    public static void WriteMagic(Span<byte> file, byte major, byte minor)
    {
        ReadOnlySpan<byte> magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
        magic.CopyTo(file);
        file[6] = major;
        file[7] = minor;
    }

    public static byte[] Bytes<T>(params T[] values) where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>The elements of <paramref name="values"/> each with their bytes reversed: big-endian on disk.</summary>
    public static byte[] BigEndianBytes<T>(params T[] values) where T : unmanaged
    {
        byte[] bytes = Bytes(values);
        int size = bytes.Length / Math.Max(1, values.Length);
        for (int i = 0; i < bytes.Length; i += size)
        {
            bytes.AsSpan(i, size).Reverse();
        }

        return bytes;
    }

    /// <summary>A read-only stream that cannot seek, like a pipe, and hands out at most 7 bytes per read.</summary>
    public sealed class PipeStream(byte[] bytes) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(Math.Min(count, 7), bytes.Length - _position);
            bytes.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>
    /// A seekable stream of <paramref name="prefix"/> followed by zeros up to <paramref name="length"/> bytes,
    /// which are never materialized: a stand-in for a file too large to create in a test.
    /// </summary>
    public sealed class SparseStream(byte[] prefix, long length) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, length - Position);
            for (int i = 0; i < n; i++)
            {
                long p = Position + i;
                buffer[offset + i] = p < prefix.Length ? prefix[p] : (byte)0;
            }

            Position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            _ => length + offset,
        };

        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
