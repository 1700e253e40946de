using System.Buffers.Binary;
using System.Text;
using Xent.Cli.Npy;
using static Xent.Tests.Cli.NpyTestFiles;

namespace Xent.Tests.Cli;

public class NpyReaderTests
{
    [Fact]
    public void ReadsAFileNumpyWrote()
    {
        NpyArray input = NpyReader.Parse(NumpyInputF4, "input.npy");
        Assert.Equal(NpyDType.Float32, input.DType);
        Assert.Equal("<f4", input.Descr);
        Assert.Equal([3L, 5L], input.Shape);
        Assert.Equal(15, input.Count);
        Assert.Equal(NumpyInputValues, input.AsSpan<float>().ToArray());

        NpyArray target = NpyReader.Parse(NumpyTargetI8, "target.npy");
        Assert.Equal(NpyDType.Int64, target.DType);
        Assert.Equal("[3]", target.ShapeString);
        Assert.Equal([1L, 4L, 3L], target.AsSpan<long>().ToArray());
    }

    [Theory]
    [InlineData("f2")]
    [InlineData("f4")]
    [InlineData("f8")]
    [InlineData("i8")]
    [InlineData("i4")]
    [InlineData("i2")]
    [InlineData("i1")]
    [InlineData("u1")]
    [InlineData("u2")]
    [InlineData("u4")]
    [InlineData("u8")]
    public void ReadsEveryDtypeInBothByteOrders(string code)
    {
        switch (code)
        {
            case "f2": AssertReads(code, NpyDType.Float16, (Half)1.5, (Half)(-2), Half.MaxValue, Half.Epsilon, Half.NaN); break;
            case "f4": AssertReads(code, NpyDType.Float32, 1.5f, -2f, float.MaxValue, float.Epsilon, float.NegativeInfinity); break;
            case "f8": AssertReads(code, NpyDType.Float64, 1.5, -2, double.MaxValue, double.Epsilon, Math.PI); break;
            case "i8": AssertReads(code, NpyDType.Int64, 1L, -100L, long.MaxValue, long.MinValue, 0x0102030405060708L); break;
            case "i4": AssertReads(code, NpyDType.Int32, 1, -100, int.MaxValue, int.MinValue, 0x01020304); break;
            case "i2": AssertReads(code, NpyDType.Int16, (short)1, (short)-100, short.MaxValue, short.MinValue, (short)0x0102); break;
            case "i1": AssertReads(code, NpyDType.Int8, (sbyte)1, (sbyte)-100, sbyte.MaxValue, sbyte.MinValue, (sbyte)7); break;
            case "u1": AssertReads(code, NpyDType.UInt8, (byte)1, (byte)200, byte.MaxValue, byte.MinValue, (byte)7); break;
            case "u2": AssertReads(code, NpyDType.UInt16, (ushort)1, (ushort)60000, ushort.MaxValue, (ushort)0, (ushort)0x0102); break;
            case "u4": AssertReads(code, NpyDType.UInt32, 1u, 4000000000u, uint.MaxValue, 0u, 0x01020304u); break;
            case "u8": AssertReads(code, NpyDType.UInt64, 1ul, ulong.MaxValue - 1, ulong.MaxValue, 0ul, 0x0102030405060708ul); break;
        }
    }

    private static void AssertReads<T>(string code, NpyDType dtype, params T[] values) where T : unmanaged
    {
        string canonical = dtype.Descr();
        string[] orders = dtype.ItemSize() == 1 ? ["|", "<", ">"] : ["<", ">"];
        foreach (string order in orders)
        {
            byte[] data = order == ">" ? BigEndianBytes(values) : Bytes(values);
            NpyArray array = NpyReader.Parse(Build(order + code, "(5,)", data));
            Assert.Equal(dtype, array.DType);
            Assert.Equal(canonical, array.Descr);
            Assert.Equal(values, array.AsSpan<T>().ToArray());
            Assert.Equal(dtype.IsFloat(), array.IsFloat);
            Assert.Equal(!dtype.IsFloat(), array.IsInteger);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadsEveryFormatVersion(byte major)
    {
        byte[] file = Build("<i4", "(2, 2)", Bytes(1, 2, 3, 4), major: major);
        Assert.Equal(major, file[6]);

        NpyArray array = NpyReader.Parse(file);
        Assert.Equal([2L, 2L], array.Shape);
        Assert.Equal([1, 2, 3, 4], array.AsSpan<int>().ToArray());
    }

    [Fact]
    public void Version3HeaderIsUtf8AndVersion1IsLatin1()
    {
        // The same character reaches the message whichever encoding carried it.
        string dict = "{'descr': '<fé', 'fortran_order': False, 'shape': (), }";
        var v3 = Assert.Throws<NpyFormatException>(() => NpyReader.Parse(Build(dict, [], major: 3), "x.npy"));
        var v1 = Assert.Throws<NpyFormatException>(() => NpyReader.Parse(Build(dict, [], major: 1), "x.npy"));
        Assert.Equal("x.npy: unsupported dtype '<fé' (only 2-, 4- and 8-byte floats are supported)", v3.Message);
        Assert.Equal(v3.Message, v1.Message);
    }

    [Theory]
    [InlineData("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}")]
    [InlineData("{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}")]
    [InlineData("{'descr':'<f4','fortran_order':False,'shape':(2L,)}")]
    [InlineData("{u'descr': u'<f4', u'fortran_order': False, u'shape': (2,), }")]
    [InlineData("{\n\t'descr': '<f4',\r\n 'fortran_order': False,\f 'shape': ( 2 , ) ,\n}")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2,), }")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (+1, 2), }")]
    public void AcceptsTheDictSyntaxPythonAccepts(string dict)
    {
        foreach (bool pad in (bool[])[true, false])
        {
            NpyArray array = NpyReader.Parse(Build(dict, Bytes(1f, 2f), pad: pad));
            Assert.Equal(2, array.Count);
            Assert.Equal([1f, 2f], array.AsSpan<float>().ToArray());
        }
    }

    [Theory]
    [InlineData("()", new long[0], 1)]
    [InlineData("(0,)", new long[] { 0 }, 0)]
    [InlineData("(3, 0)", new long[] { 3, 0 }, 0)]
    [InlineData("(0, 9223372036854775807)", new long[] { 0, long.MaxValue }, 0)]
    [InlineData("(9223372036854775807, 9223372036854775807, 0)", new long[] { long.MaxValue, long.MaxValue, 0 }, 0)]
    [InlineData("(1, 1, 1, 1, 1, 1, 1, 1)", new long[] { 1, 1, 1, 1, 1, 1, 1, 1 }, 1)]
    public void ReadsScalarsAndEmptyArrays(string shape, long[] expectedShape, long count)
    {
        NpyArray array = NpyReader.Parse(Build("<f8", shape, new byte[count * 8]));
        Assert.Equal(expectedShape, array.Shape);
        Assert.Equal(count, array.Count);
        Assert.Equal(count * 8, array.Data.Length);
    }

    [Fact]
    public void TransposesFortranOrder()
    {
        // A = [[1, 2, 3], [4, 5, 6]] is stored column by column.
        NpyArray a = NpyReader.Parse(Build("<i4", "(2, 3)", Bytes(1, 4, 2, 5, 3, 6), fortranOrder: true));
        Assert.Equal([2L, 3L], a.Shape);
        Assert.Equal([1, 2, 3, 4, 5, 6], a.AsSpan<int>().ToArray());

        // Big-endian and Fortran order at once.
        NpyArray b = NpyReader.Parse(Build(">f8", "(3, 2)", BigEndianBytes(1.0, 3.0, 5.0, 2.0, 4.0, 6.0), fortranOrder: true));
        Assert.Equal([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], b.AsSpan<double>().ToArray());
    }

    [Theory]
    [InlineData(new long[0])]
    [InlineData(new long[] { 5 })]
    [InlineData(new long[] { 2, 3, 4 })]
    [InlineData(new long[] { 3, 1, 2, 5 })]
    [InlineData(new long[] { 2, 3, 1, 2, 3 })]
    [InlineData(new long[] { 4, 0, 3 })]
    [InlineData(new long[] { 1, 7 })]
    public void TransposesFortranOrderOfAnyRank(long[] shape)
    {
        // Each element holds its own C-order position. Fortran order lists the elements with the first index
        // running fastest, so enumerate multi-indices that way and write each one's C position.
        int rank = shape.Length;
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var fortran = new List<long>();
        var index = new long[rank];
        for (long n = 0; n < count; n++)
        {
            long c = 0;
            for (int k = 0; k < rank; k++)
            {
                c = (c * shape[k]) + index[k];
            }

            fortran.Add(c);
            for (int k = 0; k < rank && ++index[k] == shape[k]; k++)
            {
                index[k] = 0;
            }
        }

        string tuple = rank == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        foreach (string descr in (string[])["<i8", ">i8"])
        {
            byte[] data = descr[0] == '>' ? BigEndianBytes(fortran.ToArray()) : Bytes(fortran.ToArray());
            NpyArray array = NpyReader.Parse(Build(descr, tuple, data, fortranOrder: true));
            Assert.Equal(shape, array.Shape);
            Assert.Equal(Enumerable.Range(0, (int)count).Select(i => (long)i), array.AsSpan<long>().ToArray());
        }

        // One-byte and two-byte elements take their own copy loops.
        NpyArray bytes = NpyReader.Parse(Build("|u1", tuple, fortran.Select(v => (byte)v).ToArray(), fortranOrder: true));
        Assert.Equal(Enumerable.Range(0, (int)count).Select(i => (byte)i), bytes.AsSpan<byte>().ToArray());
        NpyArray halves = NpyReader.Parse(Build("<i2", tuple, Bytes(fortran.Select(v => (short)v).ToArray()), fortranOrder: true));
        Assert.Equal(Enumerable.Range(0, (int)count).Select(i => (short)i), halves.AsSpan<short>().ToArray());
    }

    public static TheoryData<byte[], string> Rejections()
    {
        byte[] f4x12 = new byte[48];
        static byte[] Raw(params byte[] bytes) => bytes;
        static byte[] WithVersion(byte major, byte minor)
        {
            byte[] file = Build("<f4", "(1,)", new byte[4]);
            file[6] = major;
            file[7] = minor;
            return file;
        }

        static byte[] V1WithLength(ushort length, int available)
        {
            var file = new byte[10 + available];
            WriteMagic(file, 1, 0);
            BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(8), length);
            file.AsSpan(10).Fill((byte)' ');
            return file;
        }

        static byte[] V2WithLength(uint length)
        {
            var file = new byte[12 + 64];
            WriteMagic(file, 2, 0);
            BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(8), length);
            return file;
        }

        static byte[] Dict(string dict) => Build(dict, []);
        static byte[] Shape(string shape, string descr = "<f4") => Build(descr, shape, []);
        static byte[] Descr(string descr) => Build(descr, "()", new byte[8]);

        byte[] invalidUtf8 = Build("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", new byte[4], major: 3);
        invalidUtf8[^6] = 0xFF;

        string dims65 = "(" + string.Join(", ", Enumerable.Repeat("1", 65)) + ")";
        return new TheoryData<byte[], string>
        {
            { Raw(), "not a .npy file: the file is empty" },
            { Raw(0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00), "not a .npy file: it does not start with the magic string \\x93NUMPY (found 50 4b 03 04 14 00)" },
            { Raw(0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'), "file is too short to be a .npy file (6 bytes)" },
            { Raw(0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0x76), "file is too short to be a .npy file (9 bytes)" },
            { WithVersion(4, 0), "unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)" },
            { WithVersion(1, 1), "unsupported .npy format version 1.1 (expected 1.0, 2.0 or 3.0)" },
            { V2WithLength(0x0020_0000), "header length 2097152 is too large (at most 1048576 bytes)" },
            { V2WithLength(uint.MaxValue), "header length 4294967295 is too large (at most 1048576 bytes)" },
            { V1WithLength(1000, 50), "header is truncated: the header length field says 1000 bytes, but only 50 follow" },
            { V1WithLength(0, 0), "the header is not a Python dict literal: expected '{', found the end of the header" },
            { invalidUtf8, "the header is not valid UTF-8 (required by format version 3.0)" },
            { Dict("[1, 2]"), "the header is not a Python dict literal: expected '{', found '['" },
            { Descr("|O"), "unsupported dtype '|O' (object arrays cannot be read)" },
            { Descr("|b1"), "unsupported dtype '|b1' (boolean arrays are not supported; save them as uint8)" },
            { Descr("<c8"), "unsupported dtype '<c8' (complex arrays are not supported)" },
            { Descr("<U3"), "unsupported dtype '<U3' (string arrays are not supported)" },
            { Descr("<M8[ns]"), "unsupported dtype '<M8[ns]' (datetime and timedelta arrays are not supported)" },
            { Descr("|V8"), "unsupported dtype '|V8' (void and structured arrays are not supported)" },
            { Descr("<f16"), "unsupported dtype '<f16' (only 2-, 4- and 8-byte floats are supported)" },
            { Descr("|f4"), "unsupported dtype '|f4' (byte order '|' is only valid for 1-byte types)" },
            { Descr("=f4"), "unsupported dtype '=f4' (native byte order '=' does not say which byte order the file holds)" },
            { Descr("f4"), "unsupported dtype 'f4' (expected one of <f2, <f4, <f8, <i8, <i4, <i2, |i1, |u1, <u2, <u4, <u8)" },
            { Descr("<"), "unsupported dtype '<' (expected a byte order, a kind and a size, e.g. '<f4')" },
            { Descr("<q8"), "unsupported dtype '<q8' (expected one of <f2, <f4, <f8, <i8, <i4, <i2, |i1, |u1, <u2, <u4, <u8)" },
            { Descr(new string('x', 100)), $"unsupported dtype '{new string('x', 40)}'... (expected one of <f2, <f4, <f8, <i8, <i4, <i2, |i1, |u1, <u2, <u4, <u8)" },
            { Descr("<f\\n4"), "unsupported dtype '<f\\n4' (only 2-, 4- and 8-byte floats are supported)" },
            { Dict("{'descr': '<f\n4', 'fortran_order': False, 'shape': (), }"), "malformed header: unterminated string '<f'" },
            { Dict("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (), }"), "unsupported dtype: structured dtypes (a list descr) are not supported" },
            { Dict("{'descr': 5, 'fortran_order': False, 'shape': (), }"), "'descr' must be a string such as '<f4', found 5" },
            { Dict("{'descr': '<f4', 'fortran_order': 'False', 'shape': (), }"), "'fortran_order' must be True or False, found the string 'False'" },
            { Dict("{'descr': '<f4', 'fortran_order': 0, 'shape': (), }"), "'fortran_order' must be True or False, found 0" },
            { Dict("{'descr': '<f4', 'fortran_order': None, 'shape': (), }"), "'fortran_order' must be True or False, found None" },
            { Shape("[3, 5]"), "'shape' must be a tuple of non-negative integers, found '['" },
            { Shape("(3)"), "'shape' must be a tuple, found (3), which Python reads as an integer; a 1-D shape is written (3,)" },
            { Shape("(3, -5)"), "negative dimension -5 in 'shape'" },
            { Shape("(-1,)"), "negative dimension -1 in 'shape'" },
            { Shape("(3.5,)"), "'shape' must be a tuple of non-negative integers, found 3.5 in it" },
            { Shape("(0x10,)"), "'shape' must be a tuple of non-negative integers, found 0x10 in it" },
            { Shape("('3',)"), "'shape' must be a tuple of non-negative integers, found the string '3' in it" },
            { Shape("(True,)"), "'shape' must be a tuple of non-negative integers, found True in it" },
            { Shape("(,)"), "'shape' must be a tuple of non-negative integers, found ',' in it" },
            { Shape("(3 5)"), "malformed header: expected ',' or ')' in 'shape', found 5" },
            { Shape("(- 3,)"), "'shape' must be a tuple of non-negative integers, found the character '-' in it" },
            { Shape("(99999999999999999999,)"), "dimension 99999999999999999999 in 'shape' is too large" },
            { Shape("(9223372036854775808,)"), "dimension 9223372036854775808 in 'shape' is too large" },
            { Shape("(4294967296, 4294967296)"), "shape (4294967296, 4294967296) has too many elements (the count overflows a 64-bit integer)" },
            { Shape("(2305843009213693952,)", "<f8"), "shape (2305843009213693952,) of <f8 needs more than 9223372036854775807 bytes" },
            { Shape(dims65), "'shape' has more than 64 dimensions" },
            { Dict("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'foo': 1, }"), "unknown key 'foo' in the header (expected 'descr', 'fortran_order' and 'shape')" },
            { Dict("{'descr': '<f4', 'fortran_order': False, }"), "missing key 'shape' in the header" },
            { Dict("{'fortran_order': False, 'shape': (), }"), "missing key 'descr' in the header" },
            { Dict("{'descr': '<f4', 'shape': (), }"), "missing key 'fortran_order' in the header" },
            { Dict("{}"), "missing key 'descr' in the header" },
            { Dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (), }"), "duplicate key 'descr' in the header" },
            { Dict("{'descr': '<f4', 'fortran_order': False, 'fortran_order': False, 'shape': (), }"), "duplicate key 'fortran_order' in the header" },
            { Dict("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'shape': (), }"), "duplicate key 'shape' in the header" },
            { Dict("{descr: '<f4', 'fortran_order': False, 'shape': (), }"), "malformed header: expected a string key or '}', found descr" },
            { Dict("{'descr' '<f4', 'fortran_order': False, 'shape': (), }"), "malformed header: expected ':' after the key 'descr', found the string '<f4'" },
            { Dict("{'descr': '<f4' 'fortran_order': False, 'shape': (), }"), "malformed header: expected ',' or '}' after the value of 'descr', found the string 'fortran_order'" },
            { Dict("{'descr': '<f4', 'fortran_order': False, 'shape': (), }x"), "malformed header: x after the closing '}', where the header should end" },
            { Dict("{'descr': '<f4', 'fortran_order': False, 'shape': (), }}"), "malformed header: '}' after the closing '}', where the header should end" },
            { Dict("{'descr': '<f4', 'fortran_order': False, 'shape': (),\0}"), "malformed header: expected a string key or '}', found the character '\\x00'" },
            { Dict("{'descr': '<f4', 'fortran_order': False, 'shape': ()"), "malformed header: expected ',' or '}' after the value of 'shape', found the end of the header" },
            { Build("<f4", "(3, 4)", f4x12.AsSpan(0, 40)), "data is truncated: expected 48 bytes after the header, found 40" },
            { Build("<f4", "(3, 4)", new byte[56]), "8 unexpected bytes after the data: expected 48 bytes after the header, found 56" },
            { Build("<f8", "(1000000000,)", []), "data is truncated: expected 8000000000 bytes after the header, found 0" },
        };
    }

    [Theory]
    [MemberData(nameof(Rejections))]
    public void RejectsWithAOneLineMessageNamingFileAndValue(byte[] file, string reason)
    {
        var parsed = Assert.Throws<NpyFormatException>(() => NpyReader.Parse(file, "x.npy"));
        Assert.Equal("x.npy: " + reason, parsed.Message);
        Assert.Equal(reason, parsed.Reason);
        Assert.Equal("x.npy", parsed.FileName);
        Assert.DoesNotContain('\n', parsed.Message);
        Assert.IsAssignableFrom<FormatException>(parsed);

        // The stream path checks the same things in the same order; only a pipe cannot count trailing bytes.
        var streamed = Assert.Throws<NpyFormatException>(() => NpyReader.Read(new MemoryStream(file), "x.npy"));
        Assert.Equal(parsed.Message, streamed.Message);
        // A pipe cannot be measured, so it reports the data length only as far as it can tell (tested below).
        var piped = Assert.Throws<NpyFormatException>(() => NpyReader.Read(new PipeStream(file), "x.npy"));
        if (!reason.Contains("after the header", StringComparison.Ordinal))
        {
            Assert.Equal(parsed.Message, piped.Message);
        }
    }

    [Fact]
    public void APipeReportsTrailingBytesWithoutCountingThem()
    {
        byte[] file = Build("<f4", "(3, 4)", new byte[56]);
        var e = Assert.Throws<NpyFormatException>(() => NpyReader.Read(new PipeStream(file), "-"));
        Assert.Equal("-: unexpected bytes after the data: expected 48 bytes after the header, found more", e.Message);
    }

    [Fact]
    public void APipeWithALyingHeaderAllocatesOnlyWhatArrives()
    {
        // 1.6 GB promised, 10 bytes delivered.
        byte[] file = Build("<f8", "(200000000,)", new byte[10]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NpyFormatException>(() => NpyReader.Read(new PipeStream(file), null));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal("<stream>: data is truncated: expected 1600000000 bytes after the header, found 10", e.Message);
        Assert.InRange(allocated, 0, 4 << 20);
    }

    [Fact]
    public void RejectsAnArrayTooLargeForOneBufferBeforeAllocatingIt()
    {
        byte[] header = Build("<f4", "(750000000,)", []);
        var stream = new SparseStream(header, header.Length + 3_000_000_000L);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NpyFormatException>(() => NpyReader.Read(stream, "big.npy"));

        Assert.Equal($"big.npy: array too large (3000000000 bytes; at most {Array.MaxLength} bytes can be loaded)", e.Message);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 4 << 20);
    }

    [Fact]
    public void ReadsFromTheStreamsCurrentPositionAndFromAPipe()
    {
        var stream = new MemoryStream();
        stream.Write("junk"u8);
        stream.Write(NumpyInputF4);
        stream.Position = 4;
        Assert.Equal(NumpyInputValues, NpyReader.Read(stream, "s").AsSpan<float>().ToArray());

        NpyArray piped = NpyReader.Read(new PipeStream(NumpyInputF4), null);
        Assert.Equal(NumpyInputValues, piped.AsSpan<float>().ToArray());
    }

    [Fact]
    public void ReadsFromAPathAndNamesThePathInErrors()
    {
        string directory = Directory.CreateTempSubdirectory("xent-npy-").FullName;
        try
        {
            string good = Path.Combine(directory, "input.npy");
            File.WriteAllBytes(good, NumpyInputF4);
            Assert.Equal(NumpyInputValues, NpyReader.Read(good).AsSpan<float>().ToArray());

            string bad = Path.Combine(directory, "bad.npy");
            File.WriteAllBytes(bad, NumpyInputF4.AsSpan(0, 180).ToArray());
            var e = Assert.Throws<NpyFormatException>(() => NpyReader.Read(bad));
            Assert.Equal($"{bad}: data is truncated: expected 60 bytes after the header, found 52", e.Message);

            // A missing file is the caller's I/O error, not a format error.
            Assert.Throws<FileNotFoundException>(() => NpyReader.Read(Path.Combine(directory, "missing.npy")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void KeepsTheMessageOnOneLineWhateverTheFileName()
    {
        var e = Assert.Throws<NpyFormatException>(() => NpyReader.Parse([], "a\nb.npy"));
        Assert.Equal("a\\x0ab.npy: not a .npy file: the file is empty", e.Message);
        Assert.Equal("a\nb.npy", e.FileName);
    }

    [Fact]
    public void HeaderTextIsNeverEvaluated()
    {
        // Python would run this; here it is just an unexpected name.
        string dict = "{'descr': __import__('os').system('false'), 'fortran_order': False, 'shape': (), }";
        var e = Assert.Throws<NpyFormatException>(() => NpyReader.Parse(Build(dict, []), "x.npy"));
        Assert.Equal("x.npy: 'descr' must be a string such as '<f4', found __import__", e.Message);
    }
}
