using Xent.Cli.Npy;

namespace Xent.Tests.Cli;

public class NpyArrayTests
{
    [Theory]
    [InlineData(new long[0], "[]")]
    [InlineData(new long[] { 5 }, "[5]")]
    [InlineData(new long[] { 4, 3 }, "[4, 3]")]
    [InlineData(new long[] { 2, 0, 7 }, "[2, 0, 7]")]
    public void FormatsTheShapeAsPyTorchPrintsIt(long[] shape, string expected)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var array = new NpyArray(NpyDType.Float32, shape, new byte[count * 4]);
        Assert.Equal(expected, array.ShapeString);
        Assert.Equal(count, array.Count);
        Assert.Equal(shape.Length, array.Rank);
    }

    [Fact]
    public void ViewsOnlyAsItsOwnElementType()
    {
        NpyArray array = NpyArray.Create<long>([1, 2, 3], [3]);
        Assert.Equal([1L, 2L, 3L], array.AsSpan<long>().ToArray());
        Assert.True(array.IsInteger);
        Assert.False(array.IsFloat);
        Assert.Equal("<i8", array.Descr);

        var e = Assert.Throws<InvalidOperationException>(() => array.AsSpan<double>().Length);
        Assert.Equal("Cannot view <i8 data as Double.", e.Message);
    }

    [Fact]
    public void RejectsDataThatDoesNotFitTheShape()
    {
        var e = Assert.Throws<ArgumentException>(() => new NpyArray(NpyDType.Float64, [2, 3], new byte[40]));
        Assert.Equal("data", e.ParamName);
        Assert.StartsWith("data has 40 bytes, but shape [2, 3] of <f8 needs 48.", e.Message);

        var negative = Assert.Throws<ArgumentException>(() => new NpyArray(NpyDType.Float64, [2, -3], []));
        Assert.Equal("shape", negative.ParamName);
        Assert.StartsWith("shape [2, -3] has a negative dimension.", negative.Message);

        var overflow = Assert.Throws<ArgumentException>(() => new NpyArray(NpyDType.UInt8, [1L << 32, 1L << 32], []));
        Assert.StartsWith("shape [4294967296, 4294967296] has more than 9223372036854775807 elements.", overflow.Message);

        var create = Assert.Throws<ArgumentException>(() => NpyArray.Create<int>([1, 2, 3], [2, 2]));
        Assert.Equal("data", create.ParamName);
        Assert.StartsWith("data has 3 elements, but shape [2, 2] holds 4.", create.Message);
    }

    [Fact]
    public void RejectsElementTypesWithoutADtype()
    {
        var e = Assert.Throws<NotSupportedException>(() => NpyArray.Create<bool>([true], [1]));
        Assert.StartsWith("Boolean has no .npy dtype", e.Message);
    }
}
