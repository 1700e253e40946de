using Xent.Kernels;

namespace Xent.Tests.Library;

/// <summary>The general path's float sums (what machines without AVX2 run for every row): within two ulps of the
/// float64 sum of the same terms, however long the row, where one float sum over the row drifts.</summary>
public sealed class BlockSumsTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(5000)]
    [InlineData(1_000_000)]
    public void SumOfEqualTermsIsTheFloat64Sum(int n)
    {
        // 1/C in every term: each rounding of a running float sum leans the same way.
        float[] x = [.. Enumerable.Repeat(1f / n, n)];
        double exact = (double)(1f / n) * n;
        AssertWithinUlps(exact, BlockSums.Sum<float>(x), 2);
    }

    [Fact]
    public void SumAndDotOfAMillionTermsAreTheFloat64Sums()
    {
        var rnd = new Random(7);
        float[] x = [.. Enumerable.Range(0, 1_000_000).Select(_ => (float)rnd.NextDouble())];
        float[] y = [.. Enumerable.Range(0, 1_000_000).Select(_ => -(float)(rnd.NextDouble() * 20))];
        AssertWithinUlps(x.Sum(v => (double)v), BlockSums.Sum<float>(x), 2);
        AssertWithinUlps(x.Zip(y, (a, b) => (double)a * b).Sum(), BlockSums.Dot<float>(x, y), 2);
    }

    [Fact]
    public void DoubleSumsAreTensorPrimitivesOwn()
    {
        double[] x = [.. Enumerable.Range(1, 1000).Select(i => 1.0 / i)];
        Assert.Equal(System.Numerics.Tensors.TensorPrimitives.Sum<double>(x), BlockSums.Sum<double>(x));
        Assert.Equal(System.Numerics.Tensors.TensorPrimitives.Dot<double>(x, x), BlockSums.Dot<double>(x, x));
    }

    [Fact]
    public void NonFiniteTermsComeThrough()
    {
        float[] x = [.. Enumerable.Repeat(1f, 300)];
        x[200] = float.PositiveInfinity;
        Assert.Equal(float.PositiveInfinity, BlockSums.Sum<float>(x));
        x[100] = float.NaN;
        Assert.True(float.IsNaN(BlockSums.Sum<float>(x)));
        Assert.True(float.IsNaN(BlockSums.Dot<float>(x, x)));
    }

    private static void AssertWithinUlps(double expected, float actual, int ulps)
    {
        float rounded = (float)expected;
        double ulp = Math.Max(MathF.BitIncrement(MathF.Abs(rounded)) - MathF.Abs(rounded), float.Epsilon);
        Assert.True(Math.Abs(actual - expected) <= ulps * ulp, $"{actual:R} is {Math.Abs(actual - expected) / ulp:F1} ulps from {expected:R}");
    }
}
