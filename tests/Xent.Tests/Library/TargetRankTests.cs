namespace Xent.Tests.Library;

/// <summary><see cref="Functional.TargetRank{T, TTarget}"/> against a reference that sorts each position's scores.</summary>
public sealed class TargetRankTests
{
    /// <summary>The target's index in a stable sort by descending score, NaN first (torch.max treats NaN as largest).</summary>
    private static int ReferenceRank(double[] scores, int target)
    {
        int[] order = [.. Enumerable.Range(0, scores.Length).OrderBy(c => double.IsNaN(scores[c]) ? 0 : 1).ThenByDescending(c => double.IsNaN(scores[c]) ? 0 : scores[c])];
        return Array.IndexOf(order, target);
    }

    [Theory]
    [InlineData(new[] { 9, 7 }, 1)]
    [InlineData(new[] { 5, 4, 3 }, 2)]
    [InlineData(new[] { 2, 6, 2, 3 }, 3)]
    [InlineData(new[] { 40, 1 }, 4)]
    public void RanksMatchAStableSort(int[] dims, int seed)
    {
        var rng = new Random(seed);
        int n = dims[0], c = dims[1];
        int d = dims.Skip(2).Aggregate(1, (a, b) => a * b);
        // Scores from a few values, so ties are common, with the odd NaN and infinity.
        double[] pool = [-1.5, 0, 0.25, 0.25, 2, double.PositiveInfinity, double.NegativeInfinity, double.NaN];
        var x = new double[n * c * d];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = rng.Next(10) < 8 ? pool[rng.Next(5)] : pool[rng.Next(pool.Length)];
        }

        var t = new int[n * d];
        for (int i = 0; i < t.Length; i++)
        {
            t[i] = i % 5 == 4 ? -7 : rng.Next(c);
        }

        nint[] shape = Array.ConvertAll(dims, v => (nint)v);
        nint[] targetShape = [shape[0], .. shape[2..]];
        var rank = new int[t.Length];
        Functional.TargetRank<double, int>(x, shape, t, targetShape, rank, ignoreIndex: -7);
        var rankF = new int[t.Length];
        Functional.TargetRank<float, int>(Array.ConvertAll(x, v => (float)v), shape, t, targetShape, rankF, ignoreIndex: -7);
        var rankH = new int[t.Length];
        Functional.TargetRank<Half, int>(Array.ConvertAll(x, v => (Half)v), shape, t, targetShape, rankH, ignoreIndex: -7);

        for (int p = 0; p < t.Length; p++)
        {
            int expected = -1;
            if (t[p] != -7)
            {
                int sample = p / d, j = p % d;
                double[] scores = [.. Enumerable.Range(0, c).Select(k => x[(sample * c * d) + (k * d) + j])];
                expected = ReferenceRank(scores, t[p]);
            }

            Assert.Equal(expected, rank[p]);
            Assert.Equal(expected, rankF[p]);
            Assert.Equal(expected, rankH[p]);
        }
    }

    [Fact]
    public void TiesGoToTheLowerClassAsArgmax()
    {
        float[] x = [1f, 3f, 3f, 0f];
        var rank = new int[1];
        Functional.TargetRank<float, long>(x, [1, 4], [1L], [1], rank);
        Assert.Equal(0, rank[0]);
        Functional.TargetRank<float, long>(x, [1, 4], [2L], [1], rank);
        Assert.Equal(1, rank[0]);
        Functional.TargetRank<float, long>(x, [4], [3L], [], rank);
        Assert.Equal(3, rank[0]);
    }

    [Fact]
    public void ErrorsAreThrownBeforeAnyRankIsWritten()
    {
        float[] x = new float[6];
        int[] rank = [42, 42];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.TargetRank<float, long>(x, [2, 3], [0L, 3L], [2], rank));
        Assert.StartsWith("Target 3 is out of bounds.", e.Message);
        Assert.Equal([42, 42], rank);

        var a = Assert.Throws<ArgumentException>(() => Functional.TargetRank<float, long>(x, [2, 3], [0L, 1L], [2], new int[3]));
        Assert.Equal("rank", a.ParamName);
        a = Assert.Throws<ArgumentException>(() => Functional.TargetRank<float, long>(x, [2, 3], [0L, 1L, 1L], [3], new int[3]));
        Assert.Equal("target", a.ParamName);
    }
}
