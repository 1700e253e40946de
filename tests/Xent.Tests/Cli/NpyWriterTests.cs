using System.Buffers.Binary;
using System.Text;
using Xent.Cli.Npy;
using static Xent.Tests.Cli.NpyTestFiles;

namespace Xent.Tests.Cli;

public sealed class NpyWriterTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("xent-npy-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    [Fact]
    public void WritesTheSameBytesAsNumpy()
    {
        string path = PathOf("input.npy");
        NpyWriter.Write<float>(path, NumpyInputValues, [3, 5]);
        Assert.Equal(NumpyInputF4, File.ReadAllBytes(path));

        NpyWriter.Write(path, NpyReader.Parse(NumpyTargetI8));
        Assert.Equal(NumpyTargetI8, File.ReadAllBytes(path));

        var stream = new MemoryStream();
        NpyWriter.Write(stream, NpyReader.Parse(NumpyInputF4));
        Assert.Equal(NumpyInputF4, stream.ToArray());
    }

    [Theory]
    [InlineData(new long[0], "()", 0)]
    [InlineData(new long[] { 7 }, "(7,)", 20)]
    [InlineData(new long[] { 12345, 2 }, "(12345, 2)", 16)]
    [InlineData(new long[] { 0, 3, 0 }, "(0, 3, 0)", 20)]
    public void PadsTheHeaderLikeNumpy(long[] shape, string tuple, int growthSpaces)
    {
        byte[] header = NpyWriter.BuildHeader(NpyDType.Float16, shape);
        int length = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(8));
        string text = Encoding.Latin1.GetString(header, 10, length);

        Assert.Equal(1, header[6]);
        Assert.Equal(0, header[7]);
        Assert.Equal(10 + length, header.Length);
        Assert.Equal(0, header.Length % 64);
        Assert.EndsWith("\n", text);

        // numpy: the dict, 21 - len(repr(shape[0])) spaces of room to grow (none for a scalar), then
        // 64 - (10 + len + 1) % 64 spaces (1 to 64) and a newline.
        string dict = $"{{'descr': '<f2', 'fortran_order': False, 'shape': {tuple}, }}" + new string(' ', growthSpaces);
        int padding = 64 - ((10 + dict.Length + 1) % 64);
        Assert.Equal(dict + new string(' ', padding) + "\n", text);
    }

    public static TheoryData<long[]> Shapes() => new()
    {
        Array.Empty<long>(),
        new long[] { 0 },
        new long[] { 1 },
        new long[] { 17 },
        new long[] { 3, 5 },
        new long[] { 0, 5 },
        new long[] { 5, 0 },
        new long[] { 2, 3, 4 },
        new long[] { 2, 0, 4 },
        new long[] { 1, 2, 3, 2 },
        new long[] { 3, 1, 2, 1, 2 },
        new long[] { 2, 2, 0, 2, 2 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RoundTripsEveryDtypeAndRank(long[] shape)
    {
        int count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var random = new Random(shape.Length * 1000 + count);

        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => (Half)(random.NextSingle() * 100 - 50)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => random.NextSingle() * 100 - 50).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => random.NextDouble() * 1e300).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => random.NextInt64(long.MinValue, long.MaxValue)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => random.Next(int.MinValue, int.MaxValue)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => (short)random.Next(short.MinValue, short.MaxValue)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => (sbyte)random.Next(sbyte.MinValue, sbyte.MaxValue)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => (byte)random.Next(256)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => (ushort)random.Next(65536)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => (uint)random.NextInt64(uint.MaxValue)).ToArray());
        RoundTrip(shape, Enumerable.Range(0, count).Select(_ => (ulong)random.NextInt64() * 2).ToArray());
    }

    private void RoundTrip<T>(long[] shape, T[] values) where T : unmanaged
    {
        string path = PathOf($"{typeof(T).Name}.npy");
        NpyWriter.Write<T>(path, values, shape);
        NpyArray read = NpyReader.Read(path);
        Assert.Equal(NpyArray.DTypeOf<T>(), read.DType);
        Assert.Equal(shape, read.Shape);
        Assert.Equal(values, read.AsSpan<T>().ToArray());

        // The NpyArray overload writes the same bytes.
        string again = PathOf($"{typeof(T).Name}.again.npy");
        NpyWriter.Write(again, read);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(again));
        Assert.Equal(0, (File.ReadAllBytes(path).Length - values.Length * read.ItemSize) % 64);
    }

    [Fact]
    public void RejectsDataThatDoesNotFitTheShapeBeforeTouchingTheFile()
    {
        string path = PathOf("x.npy");
        var e = Assert.Throws<ArgumentException>(() => NpyWriter.Write<float>(path, [1, 2, 3], [2, 2]));
        Assert.Equal("data", e.ParamName);
        Assert.StartsWith("data has 3 elements, but shape [2, 2] holds 4.", e.Message);

        var negative = Assert.Throws<ArgumentException>(() => NpyWriter.Write<float>(path, [], [-1]));
        Assert.Equal("shape", negative.ParamName);

        Assert.Throws<NotSupportedException>(() => NpyWriter.Write<char>(path, ['a'], [1]));

        long[] ones = Enumerable.Repeat(1L, 65).ToArray();
        var rank = Assert.Throws<ArgumentException>(() => NpyWriter.Write<float>(path, [1f], ones));
        Assert.Equal("shape", rank.ParamName);
        Assert.StartsWith("shape has 65 dimensions; .npy readers accept at most 64.", rank.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
    }

    [Fact]
    public void AMissingDirectoryThrowsAndCreatesNothing()
    {
        string missing = PathOf("no-such-dir");
        string path = Path.Combine(missing, "out.npy");
        var e = Assert.Throws<DirectoryNotFoundException>(() => NpyWriter.Write<float>(path, [1f], [1]));

        Assert.Equal($"{path}: the output directory '{missing}' does not exist", e.Message);
        Assert.False(Directory.Exists(missing));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
    }

    [Fact]
    public void APathThatIsADirectoryThrowsAndLeavesNoTemporaryFile()
    {
        string path = PathOf("out.npy");
        Directory.CreateDirectory(path);
        var e = Assert.Throws<IOException>(() => NpyWriter.Write<float>(path, [1f], [1]));

        Assert.Equal($"{path}: is a directory, not a file", e.Message);
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(_directory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(path));
    }

    [Fact]
    public void ReplacesAnExistingFileCompletely()
    {
        string path = PathOf("out.npy");
        File.WriteAllBytes(path, new byte[10_000]);
        NpyWriter.Write<long>(path, [1, 4, 3], [3]);

        Assert.Equal(NumpyTargetI8, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(_directory));
    }

    [Fact]
    public void AFailureWhileWritingLeavesTheOldFileAndNoTemporaryFile()
    {
        string path = PathOf("out.npy");
        File.WriteAllBytes(path, NumpyTargetI8);
        string? tempPath = null;

        Action failingWrite = () =>
        {
            using AtomicFile file = AtomicFile.Create(path);
            tempPath = file.TempPath;
            file.Stream.Write(new byte[100_000]);
            throw new InvalidOperationException("disk on fire");
        };
        var e = Assert.Throws<InvalidOperationException>(failingWrite);

        Assert.Equal("disk on fire", e.Message);
        Assert.Equal(_directory, Path.GetDirectoryName(tempPath));
        Assert.Matches(@"^\.out\.npy\.[0-9a-f]{8}\.tmp$", Path.GetFileName(tempPath));
        Assert.Equal(NumpyTargetI8, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(_directory));
    }

    [Fact]
    public void AFailedRenameLeavesNoTemporaryFile()
    {
        string path = PathOf("out.npy");
        var e = Assert.ThrowsAny<IOException>(() =>
        {
            using AtomicFile file = AtomicFile.Create(path);
            file.Stream.Write(NumpyTargetI8);

            // Something else puts a non-empty directory where the file should go before the rename.
            Directory.CreateDirectory(path);
            File.WriteAllBytes(Path.Combine(path, "keep"), [1]);
            file.Commit();
        });

        Assert.NotNull(e);
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(_directory));
        Assert.Equal([Path.Combine(path, "keep")], Directory.EnumerateFileSystemEntries(path));
    }
}
