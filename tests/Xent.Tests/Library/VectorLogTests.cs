using System.Runtime.Intrinsics;
using Xent.Kernels;

namespace Xent.Tests.Library;

/// <summary>The K-dim kernel's vector log (<see cref="FloatRows.Log(Vector512{float})"/>) against <c>Math.Log</c> in
/// double: within 1 ulp on every 61st float from FLT_MIN to float.MaxValue, exact at powers of two and at 1.</summary>
public sealed class VectorLogTests
{
    private const float MinNormal = 1.17549435e-38f;

    [VectorWidthFact(512)]
    public void LogIsWithinOneUlp()
    {
        double worst = 0;
        float worstX = 0;
        float[] x = new float[16];
        uint first = BitConverter.SingleToUInt32Bits(MinNormal), last = BitConverter.SingleToUInt32Bits(float.MaxValue);
        for (uint b = first; b <= last - 16 * 61; b += 16 * 61)
        {
            for (int i = 0; i < 16; i++)
            {
                // Every 61st float, each nudged by i so that the grid does not keep to one mantissa pattern.
                x[i] = BitConverter.UInt32BitsToSingle(b + (uint)(i * 61 + i));
            }

            Vector512<float> y = FloatRows.Log(Vector512.Create(x));
            for (int i = 0; i < 16; i++)
            {
                double exact = Math.Log(x[i]);
                double ulp = exact == 0 ? float.Epsilon : Math.ScaleB(1, Math.ILogB((float)Math.Abs(exact)) - 23);
                double error = Math.Abs(y[i] - exact) / ulp;
                if (error > worst)
                {
                    worst = error;
                    worstX = x[i];
                }
            }
        }

        Assert.True(worst <= 1, $"log is {worst:F3} ulp off at x = {worstX:R}");
    }

    [VectorWidthFact(512)]
    public void LogAtOneAndAtPowersOfTwo()
    {
        float[] x = [1f, 2f, 4f, 0.5f, 1024f, MinNormal, MathF.ScaleB(1f, 100), MathF.ScaleB(1f, -100), MathF.ScaleB(1f, 127), 1.4142135f, 1.4142137f, 0.99999994f, 1.0000001f, 21f, 3e38f, 7f];
        Vector512<float> y = FloatRows.Log(Vector512.Create(x));
        Assert.Equal(0f, y[0]);
        for (int i = 1; i < 16; i++)
        {
            double exact = Math.Log(x[i]);
            Assert.True(Math.Abs(y[i] - exact) <= Math.ScaleB(1, Math.ILogB((float)Math.Abs(exact)) - 23), $"log({x[i]:R}) = {y[i]:R}, expected {exact:R}");
        }
    }
}
