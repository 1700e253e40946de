using Xent.Kernels;
using Xent.Tests.Library;

namespace Xent.Tests.Linear;

/// <summary>The managed GEMM against a float64 triple loop: every layout, odd sizes so each edge path of the tiles,
/// panels and blocks runs, every kernel the machine supports, and bit-identity across kernels and thread counts.</summary>
public sealed unsafe class GemmTests
{
    /// <summary>Small blocks, so 1..70 already spans several kc slices, column blocks and row tasks.</summary>
    private static readonly GemmBlocking Tiny = new(Depth: 16, Columns: 40, Rows: 24);

    private static readonly GemmIsa[] Kernels =
        [.. Enum.GetValues<GemmIsa>().Where(GemmMicroKernels.IsSupported)];

    public static TheoryData<bool, bool> Layouts() => new()
    {
        { false, true },  // logits = H·Wᵀ
        { false, false }, // gradH = G·W
        { true, false },  // gradW += Gᵀ·H
        { true, true },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void RandomOddShapesMatchTheTripleLoop(bool transA, bool transB)
    {
        var rng = new Random(transA ? 11 : 7 + (transB ? 100 : 0));
        for (int trial = 0; trial < 24; trial++)
        {
            int m = rng.Next(1, 71), n = rng.Next(1, 71), k = rng.Next(1, 71);
            foreach (bool accumulate in new[] { false, true })
            {
                var op = Operands.Random(rng, m, n, k, transA, transB);
                double[] expected = op.Reference(accumulate);
                foreach (GemmIsa isa in Kernels)
                {
                    foreach (GemmBlocking? blocking in new GemmBlocking?[] { null, Tiny })
                    {
                        float[] c = op.Run<float>(op.B, accumulate, blocking, isa);
                        op.AssertClose(expected, c, $"{m}×{n}×{k} transA={transA} transB={transB} acc={accumulate} {isa} {blocking}");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void HalfAndBFloat16BAreWidenedExactly(bool transA, bool transB)
    {
        var rng = new Random(3);
        for (int trial = 0; trial < 8; trial++)
        {
            int m = rng.Next(1, 71), n = rng.Next(1, 71), k = rng.Next(1, 71);
            var op = Operands.Random(rng, m, n, k, transA, transB);

            // Round B to each 16-bit type; the float GEMM on the rounded values is the reference.
            Half[] bh = [.. op.B.Select(v => (Half)v)];
            BFloat16[] bb = [.. op.B.Select(v => (BFloat16)v)];
            foreach (GemmIsa isa in Kernels)
            {
                float[] viaHalf = op.Run(bh, false, Tiny, isa);
                float[] viaFloat = op.Run([.. bh.Select(v => (float)v)], false, Tiny, isa);
                Assert.Equal(viaFloat, viaHalf);
                float[] viaBf16 = op.Run(bb, false, Tiny, isa);
                viaFloat = op.Run([.. bb.Select(v => (float)v)], false, Tiny, isa);
                Assert.Equal(viaFloat, viaBf16);
            }
        }
    }

    [Fact]
    public void EveryKernelGivesTheSameBits()
    {
        // Each C element is the same k-ordered chain of single-rounding FMAs per kc slice in every kernel.
        var rng = new Random(5);
        for (int trial = 0; trial < 10; trial++)
        {
            int m = rng.Next(1, 71), n = rng.Next(1, 71), k = rng.Next(1, 200);
            var op = Operands.Random(rng, m, n, k, trial % 2 == 0, trial % 3 == 0);
            float[] first = op.Run<float>(op.B, true, Tiny, Kernels[0]);
            foreach (GemmIsa isa in Kernels.Skip(1))
            {
                Assert.Equal(first, op.Run<float>(op.B, true, Tiny, isa));
            }
        }
    }

    [Fact]
    public void ThreadCountDoesNotChangeTheBits()
    {
        var rng = new Random(9);
        foreach ((int m, int n, int k) in new[] { (150, 170, 300), (37, 900, 200), (700, 45, 130), (64, 64, 1100) })
        {
            foreach ((bool ta, bool tb) in new[] { (false, true), (false, false), (true, false) })
            {
                var op = Operands.Random(rng, m, n, k, ta, tb);
                float[] one = Threads.Run(1, () => op.Run<float>(op.B, true, null, null));
                float[] oneTiny = Threads.Run(1, () => op.Run<float>(op.B, true, Tiny, null));
                Assert.Equal(one, Threads.Run(2, () => op.Run<float>(op.B, true, null, null)));
                Assert.Equal(oneTiny, Threads.Run(2, () => op.Run<float>(op.B, true, Tiny, null)));
                Assert.Equal(oneTiny, Threads.Run(5, () => op.Run<float>(op.B, true, Tiny, null)));
                op.AssertClose(op.Reference(true), one, $"{m}×{n}×{k}");
            }
        }
    }

    [Fact]
    public void StridedOperandsAndOutput()
    {
        // Sub-matrices: every leading dimension exceeds the row it holds; C's padding must stay untouched.
        var rng = new Random(13);
        const int m = 19, n = 23, k = 29, lda = 41, ldb = 37, ldc = 31;
        float[] a = RandomArray(rng, m * lda), b = RandomArray(rng, k * ldb), c = RandomArray(rng, m * ldc);
        float[] before = (float[])c.Clone();
        fixed (float* pa = a, pb = b, pc = c)
        {
            Gemm.Multiply(m, n, k, pa, lda, false, pb, ldb, false, pc, ldc, accumulate: false, blocking: Tiny);
        }

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                if (j >= n)
                {
                    Assert.Equal(before[i * ldc + j], c[i * ldc + j]);
                    continue;
                }

                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[i * lda + p] * b[p * ldb + j];
                Assert.True(Math.Abs(s - c[i * ldc + j]) <= 1e-5 * k, $"({i}, {j}): {c[i * ldc + j]} vs {s}");
            }
        }
    }

    [Fact]
    public void EmptyDimensions()
    {
        float[] a = [1, 2], b = [3, 4], c = [5, 6, 7, 8];
        fixed (float* pa = a, pb = b, pc = c)
        {
            // k = 0: the product is 0, so C becomes 0, or stays when accumulating.
            Gemm.Multiply(2, 2, 0, pa, 1, false, pb, 2, false, pc, 2, accumulate: true);
            Assert.Equal([5f, 6, 7, 8], c);
            Gemm.Multiply(2, 2, 0, pa, 1, false, pb, 2, false, pc, 2, accumulate: false);
            Assert.Equal([0f, 0, 0, 0], c);
            c[0] = 9;
            Gemm.Multiply(0, 2, 1, pa, 1, false, pb, 2, false, pc, 2, accumulate: false);
            Gemm.Multiply(2, 0, 1, pa, 1, false, pb, 2, false, pc, 2, accumulate: false);
            Assert.Equal([9f, 0, 0, 0], c);
        }
    }

    private static float[] RandomArray(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>A, B and an initial C for one product, each in its stored layout.</summary>
    private sealed class Operands
    {
        public required int M, N, K;
        public required bool TransA, TransB;
        public required float[] A, B, C0;

        public static Operands Random(Random rng, int m, int n, int k, bool transA, bool transB) => new()
        {
            M = m, N = n, K = k, TransA = transA, TransB = transB,
            A = RandomArray(rng, m * k), B = RandomArray(rng, k * n), C0 = RandomArray(rng, m * n),
        };

        private double At(int i, int p) => TransA ? A[p * M + i] : A[i * K + p];

        private double Bt(int p, int j) => TransB ? B[j * K + p] : B[p * N + j];

        public double[] Reference(bool accumulate)
        {
            var c = new double[M * N];
            for (int i = 0; i < M; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    double s = accumulate ? C0[i * N + j] : 0;
                    for (int p = 0; p < K; p++) s += At(i, p) * Bt(p, j);
                    c[i * N + j] = s;
                }
            }

            return c;
        }

        public float[] Run<TB>(TB[] b, bool accumulate, GemmBlocking? blocking, GemmIsa? isa)
            where TB : unmanaged
        {
            float[] c = (float[])C0.Clone();
            fixed (float* pa = A, pc = c)
            fixed (TB* pb = b)
            {
                Gemm.Multiply(M, N, K, pa, TransA ? M : K, TransA, pb, TransB ? K : N, TransB, pc, N, accumulate,
                    blocking: blocking, isa: isa);
            }

            return c;
        }

        public void AssertClose(double[] expected, float[] actual, string what)
        {
            // |a|, |b| ≤ 1: the float error of a k-term dot product is below k·2⁻²⁴·Σ|a·b| ≤ k²·6e-8.
            double tol = 1e-6 + 1.2e-7 * K * (K + 1);
            for (int i = 0; i < expected.Length; i++)
            {
                if (!(Math.Abs(expected[i] - actual[i]) <= tol))
                {
                    Assert.Fail($"{what}: C[{i / N}, {i % N}] = {actual[i]}, expected {expected[i]} (tolerance {tol})");
                }
            }
        }
    }
}
