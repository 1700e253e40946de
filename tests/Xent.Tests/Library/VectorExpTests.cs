using System.Runtime.Intrinsics;
using Xent.Kernels;

namespace Xent.Tests.Library;

/// <summary>The row kernels' vector exp (<see cref="FloatRows.Exp(Vector512{float})"/> and its 256- and 128-bit forms)
/// against <c>Math.Exp</c> in double: within 2 ulp on a dense grid over every input whose result is a normal float, within
/// FLT_MIN where the result is subnormal, and exact at the special values. The 256- and 128-bit forms are only for
/// x ≤ 88.37 (their callers pass x − max ≤ 0), so their grid stops there.</summary>
public sealed class VectorExpTests
{
    [VectorWidthFact(512)]
    public void Exp512IsWithinTwoUlp() => CheckGrid(512);

    [VectorWidthFact(256)]
    public void Exp256IsWithinTwoUlp() => CheckGrid(256);

    [VectorWidthFact(128)]
    public void Exp128IsWithinTwoUlp() => CheckGrid(128);

    [VectorWidthFact(512)]
    public void Exp512SpecialValues() => CheckSpecials(512);

    /// <summary>The 128-bit exp is the AVX2 one in portable operations (rounding by adding and taking away 1.5 · 2^23
    /// where the AVX2 one has vroundps): with FMA both fuse the same multiply-adds, so they give the same bits on every
    /// input they allow, −∞ to 88.37, on NaN, and where x·log2 e falls exactly halfway between two whole numbers (both
    /// round those to even).</summary>
    [VectorWidthFact(256)]
    public void Exp128HasTheBitsOfExp256()
    {
        const float Log2E = 1.44269504088896341f;
        const float Step = 1f / 2048;
        var inputs = new List<float> { float.NegativeInfinity, float.NaN, 88.37f, -0f, 0f, -88f, -87.99f, -90f };
        for (int k = -127; k <= 126; k++)
        {
            // The floats next to (k + ½)/log2 e whose product with log2 e rounds to k + ½ exactly.
            float near = (float)((k + 0.5) / 1.4426950408889634);
            for (int d = -8; d <= 8; d++)
            {
                float x = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(near) + d);
                if (x * Log2E == k + 0.5f && x <= 88.37f)
                {
                    inputs.Add(x);
                }
            }
        }

        int ties = inputs.Count - 8;
        Assert.True(ties > 100, $"only {ties} inputs halfway between two whole numbers");
        for (float x = -90f; x <= 88.37f; x += Step)
        {
            inputs.Add(x);
        }

        while (inputs.Count % 8 != 0)
        {
            inputs.Add(0f);
        }

        for (int j = 0; j < inputs.Count; j += 8)
        {
            Vector256<float> v = Vector256.Create(inputs.GetRange(j, 8).ToArray());
            Vector256<float> wide = FloatRows.Exp(v);
            Vector256<float> narrow = Vector256.Create(FloatRows.Exp(v.GetLower()), FloatRows.Exp(v.GetUpper()));
            for (int i = 0; i < 8; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(wide[i]) == BitConverter.SingleToInt32Bits(narrow[i]) || (float.IsNaN(wide[i]) && float.IsNaN(narrow[i])),
                    $"exp({v[i]:R}): 128-bit {narrow[i]:R}, 256-bit {wide[i]:R}");
            }
        }
    }

    [VectorWidthFact(128)]
    public void Exp128SpecialValues() => CheckSpecials(128);

    [VectorWidthFact(256)]
    public void Exp256SpecialValues() => CheckSpecials(256);

    /// <summary>Huge inputs saturate: +∞ for every x past 88.7 and 0 for every x below −104, whatever their size. (Past
    /// about 10^8 an unclamped reduction comes out −∞ or 0, which would hide an overflow from the one-read passes.)</summary>
    [VectorWidthFact(512)]
    public void Exp512HugeInputsSaturate()
    {
        float[] x = [89f, 105f, 5e5f, 1e6f, 1e8f, 1e10f, 1e20f, 1e30f, float.MaxValue, -105f, -5e5f, -1e8f, -1e10f, -1e20f, -1e30f, float.MinValue];
        Vector512<float> y = FloatRows.Exp(Vector512.Create(x));
        for (int i = 0; i < 16; i++)
        {
            float expected = x[i] > 0 ? float.PositiveInfinity : 0f;
            Assert.True(y[i].Equals(expected), $"exp({x[i]:R}) = {y[i]:R}, expected {expected:R}");
        }
    }

    /// <summary>The exp for sums (FloatRows.ExpForSum): within 1.75 ulp plus 0.05 ulp per unit of |x| (ln 2 in one part)
    /// on the grid of <see cref="Exp512IsWithinTwoUlp"/>; measured 1.65 plus that, 1.65 on [−1, 1].</summary>
    [VectorWidthFact(512)]
    public void ExpForSumIsWithinItsBound()
    {
        (double worst, float worstX) = WorstOnGrid(FloatRows.ExpForSum, 88.75f, x => 0.05 * Math.Abs(x));
        Assert.True(worst <= 1.75, $"exp for sums is {worst:F3} ulp (beyond 0.05 |x|) off at x = {worstX:R}");
    }

    /// <summary>The AVX2 exp for sums (FloatRows.ExpForSum(Vector256)): within 1.2 ulp plus 0.05 ulp per unit of |x| for x
    /// from −87.3 to 0 (measured 1.07 plus that); below, −∞ included, a positive value under 1.3·10^−38; NaN stays NaN;
    /// and a sum of such terms against the max off by no more than its terms.</summary>
    [VectorWidthFact(256)]
    public void Exp256ForSumIsWithinItsBound()
    {
        (double worst, float worstX) = WorstOnGrid(v => Vector512.Create(FloatRows.ExpForSum(v.GetLower()), FloatRows.ExpForSum(v.GetUpper())),
            0f, x => x < -87.3f ? double.NegativeInfinity : 0.05 * Math.Abs(x), below: -87.3f);
        Assert.True(worst <= 1.2, $"AVX2 exp for sums is {worst:F3} ulp (beyond 0.05 |x|) off at x = {worstX:R}");
        Vector256<float> y = FloatRows.ExpForSum(Vector256.Create(float.NaN, float.NegativeInfinity, -1e30f, -1000f, -88f, -87.3f, 0f, -0f));
        Assert.True(float.IsNaN(y[0]), $"exp(NaN) = {y[0]:R}");
        for (int i = 1; i < 6; i++)
        {
            Assert.True(y[i] > 0 && y[i] < 1.3e-38f, $"lane {i}: {y[i]:R}");
        }

        Assert.Equal(1f, y[6]);
        Assert.Equal(1f, y[7]);
    }

    /// <summary>The exp for sums saturates as the exp does: clamped, for every x; unclamped, for |x| below 2^18 (x − r of
    /// two values below 2^17), 0 (or a subnormal) past −104 and +∞ past 88.7; NaN stays NaN.</summary>
    [VectorWidthFact(512)]
    public void ExpForSumSpecialValuesAndSaturation()
    {
        float[] x = [float.NegativeInfinity, -1000f, -104f, 0f, -0f, 1e-30f, -1e-30f, float.NaN, 89f, 1000f, float.PositiveInfinity, 1e30f, -1e30f, float.MaxValue, float.MinValue, 105f];
        float[] expected = [0f, 0f, 0f, 1f, 1f, 1f, 1f, float.NaN, float.PositiveInfinity, float.PositiveInfinity, float.PositiveInfinity, float.PositiveInfinity, 0f, float.PositiveInfinity, 0f, float.PositiveInfinity];
        Vector512<float> y = FloatRows.ExpForSum(Vector512.Create(x));
        for (int i = 0; i < 16; i++)
        {
            Assert.True(y[i].Equals(expected[i]), $"exp({x[i]:R}) = {y[i]:R}, expected {expected[i]:R}");
        }

        Assert.True(float.IsNaN(FloatRows.ExpForSumUnclamped(Vector512.Create(float.NaN))[0]));
        var rnd = new Random(7);
        var v = new float[16];
        for (int k = 0; k < 20000; k++)
        {
            for (int i = 0; i < 16; i++)
            {
                // Log-uniform magnitudes from 88.8 (or 104) to 2^18, both signs.
                bool negative = i % 2 == 0;
                double low = negative ? 104.01 : 88.73;
                v[i] = (float)((negative ? -1 : 1) * Math.Exp(Math.Log(low) + rnd.NextDouble() * (Math.Log(262143) - Math.Log(low))));
            }

            Vector512<float> e = FloatRows.ExpForSumUnclamped(Vector512.Create(v));
            for (int i = 0; i < 16; i++)
            {
                bool ok = v[i] < 0 ? e[i] >= 0 && e[i] <= 1.1754944e-38f : float.IsPositiveInfinity(e[i]);
                Assert.True(ok, $"unclamped exp for sums({v[i]:R}) = {e[i]:R}");
            }
        }
    }

    private static Vector512<float> Exp(int width, Vector512<float> x) => width switch
    {
        512 => FloatRows.Exp(x),
        256 => Vector512.Create(FloatRows.Exp(x.GetLower()), FloatRows.Exp(x.GetUpper())),
        _ => Vector512.Create(
            Vector256.Create(FloatRows.Exp(x.GetLower().GetLower()), FloatRows.Exp(x.GetLower().GetUpper())),
            Vector256.Create(FloatRows.Exp(x.GetUpper().GetLower()), FloatRows.Exp(x.GetUpper().GetUpper()))),
    };

    private static void CheckGrid(int width)
    {
        (double worst, float worstX) = WorstOnGrid(x => Exp(width, x), width == 512 ? 88.75f : 88.37f, _ => 0);
        Assert.True(worst <= 2, $"exp ({width}-bit) is {worst:F3} ulp off at x = {worstX:R}");
    }

    /// <summary>The largest error in ulps, less <paramref name="allowance"/>(x), of <paramref name="exp"/> over about 4.8
    /// million inputs whose result is a normal float: a step of 2^-15 from -104 (below ln of the least subnormal) to
    /// <paramref name="end"/>, each nudged by a few ulps so that the grid does not sit on multiples of ln 2 / 16 alone.
    /// Below FLT_MIN the result must be within FLT_MIN, past overflow +∞ (or float.MaxValue within an ulp of it); inputs
    /// below <paramref name="below"/> are skipped.</summary>
    private static (double Worst, float At) WorstOnGrid(Func<Vector512<float>, Vector512<float>> exp, float end, Func<float, double> allowance,
        float below = float.NegativeInfinity)
    {
        const float Step = 1f / 32768;
        double worst = double.NegativeInfinity;
        float worstX = 0;
        float[] x = new float[16];
        for (float x0 = -104f; x0 < end; x0 += 16 * Step)
        {
            for (int i = 0; i < 16; i++)
            {
                x[i] = Math.Min(end, BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(x0 + i * Step) + i));
            }

            Vector512<float> y = exp(Vector512.Create(x));
            for (int i = 0; i < 16; i++)
            {
                double exact = Math.Exp(x[i]);
                float got = y[i];
                if (exact > float.MaxValue)
                {
                    Assert.True(float.IsPositiveInfinity(got) || got == float.MaxValue, $"exp({x[i]:R}) = {got:R}, expected +∞");
                    continue;
                }

                if (x[i] < below)
                {
                    continue;   // (checked by the caller)
                }

                if (exact < 1.1754943508222875e-38)
                {
                    Assert.True(Math.Abs(got - exact) <= 1.1754943508222875e-38, $"exp({x[i]:R}) = {got:R}, expected {exact:R}");
                    continue;
                }

                double ulp = Math.ScaleB(1, Math.ILogB((float)exact) - 23);
                double excess = Math.Abs(got - exact) / ulp - allowance(x[i]);
                if (excess > worst)
                {
                    worst = excess;
                    worstX = x[i];
                }
            }
        }

        return (worst, worstX);
    }

    private static void CheckSpecials(int width)
    {
        float[] x = width == 512
            ? [float.NegativeInfinity, -1000f, -104f, 0f, -0f, 1e-30f, -1e-30f, float.NaN, 89f, 1000f, float.PositiveInfinity, 1f, -1f, 0.5f, 80f, -80f]
            : [float.NegativeInfinity, -1000f, -104f, 0f, -0f, 1e-30f, -1e-30f, float.NaN, 1f, -1f, 0.5f, 80f, -80f, 88f, -87f, -20f];
        Vector512<float> y = Exp(width, Vector512.Create(x));
        float[] expected = width == 512
            ? [0f, 0f, 0f, 1f, 1f, 1f, 1f, float.NaN, float.PositiveInfinity, float.PositiveInfinity, float.PositiveInfinity]
            : [0f, 0f, 0f, 1f, 1f, 1f, 1f, float.NaN];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(y[i].Equals(expected[i]), $"exp({x[i]:R}) = {y[i]:R}, expected {expected[i]:R}");
        }

        for (int i = expected.Length; i < 16; i++)
        {
            Assert.True(Math.Abs(y[i] - Math.Exp(x[i])) <= 2 * Math.ScaleB(1, Math.ILogB(y[i]) - 23), $"exp({x[i]:R}) = {y[i]:R}");
        }
    }
}
