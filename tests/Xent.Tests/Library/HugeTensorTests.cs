using System.Runtime.InteropServices;

namespace Xent.Tests.Library;

/// <summary>A fact that runs only when XENT_HUGE_TESTS=1: it needs about 18 GB of memory.</summary>
public sealed class HugeFactAttribute : FactAttribute
{
    public HugeFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("XENT_HUGE_TESTS") != "1")
        {
            Skip = "needs ~18 GB of memory: set XENT_HUGE_TESTS=1 to run it";
        }
    }
}

/// <summary>Tensors past 2^31 elements: every index in the kernels is 64-bit. Run with
/// <c>XENT_HUGE_TESTS=1 dotnet test --filter HugeTensor</c> (about 18 GB: 8.6 GB of logits and as much gradient).</summary>
public sealed unsafe class HugeTensorTests
{
    [HugeFact]
    public void CrossEntropyPast2To31ElementsMatchesTheClosedForm()
    {
        // Each row is zeros except its target logit a_r, so loss_r = log(C − 1 + e^a_r) − a_r exactly, and the gradient
        // at the target is (p_t − 1)/N with p_t = e^a_r / (C − 1 + e^a_r), elsewhere 1/(C − 1 + e^a_r)/N.
        const int classes = 32768;
        const long rows = (1L << 16) + 1;
        long elements = rows * classes;
        Assert.True(elements > int.MaxValue);
        float* x = (float*)NativeMemory.AllocZeroed((nuint)elements, sizeof(float));
        float* grad = (float*)NativeMemory.Alloc((nuint)elements, sizeof(float));
        long* t = (long*)NativeMemory.Alloc((nuint)rows, sizeof(long));
        try
        {
            double expected = 0;
            for (long r = 0; r < rows; r++)
            {
                t[r] = (r * 7919) % classes;
                float a = (float)(r % 13) - 6f;
                x[r * classes + t[r]] = a;
                expected += Math.Log(classes - 1 + Math.Exp(a)) - a;
            }

            expected /= rows;
            float loss;
            Functional.CrossEntropy<float, long>(x, [(nint)rows, classes], t, [(nint)rows], &loss, gradInput: grad);
            Assert.True(Math.Abs(loss - expected) <= 1e-5 * expected, $"loss {loss} vs {expected}");

            foreach (long r in new[] { 0L, rows / 2, rows - 1 })
            {
                double a = (r % 13) - 6.0;
                double z = classes - 1 + Math.Exp(a);
                long target = t[r];
                long other = (target + 1) % classes;
                Assert.Equal((Math.Exp(a) / z - 1) / rows, grad[r * classes + target], 1e-9);
                Assert.Equal(1 / z / rows, grad[r * classes + other], 1e-12);
            }
        }
        finally
        {
            NativeMemory.Free(x);
            NativeMemory.Free(grad);
            NativeMemory.Free(t);
        }
    }
}
