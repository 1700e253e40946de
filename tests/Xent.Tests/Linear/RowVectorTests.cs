using Xent.Kernels;
using Xent.Linear;

namespace Xent.Tests.Linear;

/// <summary>The row kernel's own exp and tanh against double-precision Math, lane by lane, on every width the machine
/// supports: within a few float ulp where the row kernel uses them.</summary>
public sealed unsafe class RowVectorTests
{
    [Fact]
    public void ExpIsWithinTwoUlpOnTheSoftmaxRange()
    {
        // The kernel takes exp of z − max ≤ 0; results below FLT_MIN (x < −87.34) are clamped, not denormal.
        float[] xs = [.. Enumerable.Range(0, 20000).Select(i => -87.3f * i / 19999f), -1e-30f, 0f, -0.5f * MathF.Log(2)];
        Check<RowVector512>(xs, v => RowVector512.Exp(v), Math.Exp, 2.5e-7, GemmIsa.Vector512);
        Check<RowVector256>(xs, v => RowVector256.Exp(v), Math.Exp, 2.5e-7, GemmIsa.Vector256);
        Check<RowVector128>(xs, v => RowVector128.Exp(v), Math.Exp, 2.5e-7, GemmIsa.Vector128);
        Check<RowScalar>(xs, v => RowScalar.Exp(v), Math.Exp, 1.2e-7, GemmIsa.Scalar);
    }

    [Fact]
    public void TanhIsWithinAFewUlpEverywhere()
    {
        float[] xs = [.. Enumerable.Range(0, 20000).Select(i => -12f + 24f * i / 19999f), 1e-6f, -3e-4f, 5e-4f, 1e-30f, 0f];
        Check<RowVector512>(xs, v => RowVector512.Tanh(v), Math.Tanh, 5e-7, GemmIsa.Vector512);
        Check<RowVector256>(xs, v => RowVector256.Tanh(v), Math.Tanh, 5e-7, GemmIsa.Vector256);
        Check<RowVector128>(xs, v => RowVector128.Tanh(v), Math.Tanh, 5e-7, GemmIsa.Vector128);
        Check<RowScalar>(xs, v => RowScalar.Tanh(v), Math.Tanh, 2.5e-7, GemmIsa.Scalar);
    }

    [Fact]
    public void NaNStaysNaN()
    {
        float[] xs = [float.NaN, 0f, -1f, float.NaN, 2f, -3f, 4f, 5f, float.NaN, 1f, 1f, 1f, 1f, 1f, 1f, 1f];
        var results = new float[xs.Length];
        fixed (float* px = xs, pr = results)
        {
            if (GemmMicroKernels.IsSupported(GemmIsa.Vector512))
            {
                RowVector512.Store(RowVector512.Exp(RowVector512.Load(px)), pr);
                Assert.True(float.IsNaN(results[0]) && float.IsNaN(results[3]) && float.IsNaN(results[8]));
                Assert.Equal(1f, results[1]);
                Assert.True(float.IsNaN(RowVector512.MaxAcross(RowVector512.Load(px))));
            }

            if (GemmMicroKernels.IsSupported(GemmIsa.Vector256))
            {
                RowVector256.Store(RowVector256.Tanh(RowVector256.Load(px)), pr);
                Assert.True(float.IsNaN(results[0]) && float.IsNaN(results[3]));
                Assert.True(float.IsNaN(RowVector256.MaxAcross(RowVector256.Load(px))));
            }

            if (GemmMicroKernels.IsSupported(GemmIsa.Vector128))
            {
                RowVector128.Store(RowVector128.Exp(RowVector128.Load(px)), pr);
                Assert.True(float.IsNaN(results[0]) && float.IsNaN(results[3]));
                Assert.Equal(1f, results[1]);
                RowVector128.Store(RowVector128.Tanh(RowVector128.Load(px + 8)), pr + 8);
                Assert.True(float.IsNaN(results[8]));
                Assert.True(Math.Abs(results[9] - Math.Tanh(1)) < 5e-7);
                Assert.True(float.IsNaN(RowVector128.MaxAcross(RowVector128.Load(px))));
            }
        }
    }

    private static void Check<TV>(float[] xs, Func<TV, TV> f, Func<double, double> exact, double relTol, GemmIsa isa)
        where TV : struct, IRowVector<TV>
    {
        if (!GemmMicroKernels.IsSupported(isa))
        {
            return;
        }

        int n = (xs.Length + TV.Count - 1) / TV.Count * TV.Count;
        var input = new float[n];
        var output = new float[n];
        xs.CopyTo(input, 0);
        fixed (float* pi = input, po = output)
        {
            for (int i = 0; i < n; i += TV.Count)
            {
                TV.Store(f(TV.Load(pi + i)), po + i);
            }
        }

        for (int i = 0; i < xs.Length; i++)
        {
            double e = exact(xs[i]);
            double err = Math.Abs(output[i] - e);
            Assert.True(err <= relTol * Math.Abs(e) + 1e-38, $"{isa} f({xs[i]:R}) = {output[i]:R}, exact {e:R}, relative error {err / Math.Abs(e):G3}");
        }
    }
}
