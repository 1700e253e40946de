using Xent.Tests.Reference;

namespace Xent.Tests.Library;

/// <summary>The element types under test, for generators and theories.</summary>
public enum ElementType
{
    Double,
    Float,
    Half,
    BFloat16,
}

/// <summary>The class-index types under test.</summary>
public enum TargetType
{
    Long,
    Int,
    Byte,
}

/// <summary>Conversions between double and the element types, and comparisons with the reference.</summary>
internal static class Numbers
{
    /// <summary>The relative tolerance per element type: the reference sees the values already rounded to the type, so
    /// what is left is the library's own rounding (float32 compute for Half and BFloat16, then one rounding to the type).</summary>
    public static double Tolerance(ElementType type) => type switch
    {
        ElementType.Double => 1e-10,
        ElementType.Float => 1e-5,
        ElementType.Half => 1e-2,
        _ => 3e-2,
    };

    public static ElementType TypeOf<T>() =>
        typeof(T) == typeof(double) ? ElementType.Double
        : typeof(T) == typeof(float) ? ElementType.Float
        : typeof(T) == typeof(Half) ? ElementType.Half
        : typeof(T) == typeof(BFloat16) ? ElementType.BFloat16
        : throw new NotSupportedException(typeof(T).Name);

    public static T From<T>(double value)
    {
        if (typeof(T) == typeof(double)) return (T)(object)value;
        if (typeof(T) == typeof(float)) return (T)(object)(float)value;
        if (typeof(T) == typeof(Half)) return (T)(object)(Half)value;
        if (typeof(T) == typeof(BFloat16)) return (T)(object)(BFloat16)value;
        throw new NotSupportedException(typeof(T).Name);
    }

    public static double ToDouble<T>(T value) => value switch
    {
        double d => d,
        float f => f,
        Half h => (double)h,
        BFloat16 b => b,
        _ => throw new NotSupportedException(typeof(T).Name),
    };

    public static T[] Convert<T>(double[] values) => Array.ConvertAll(values, From<T>);

    public static double[] ToDouble<T>(T[] values) => Array.ConvertAll(values, ToDouble);

    /// <summary>The values as the element type holds them: what the reference must be given.</summary>
    public static double[] Quantize<T>(double[] values) => ToDouble(Convert<T>(values));

    public static double[]? QuantizeOrNull<T>(double[]? values) => values == null ? null : Quantize<T>(values);

    /// <summary>The values, with those past the element type's largest finite value made the infinity its cast gives:
    /// a float16 sum of 74460 is +∞ in PyTorch as here (the float accumulator rounded to the output type).</summary>
    /// <summary>The element type's least positive value, the spacing of its subnormals: below its least normal value a
    /// result rounded to the type is off by up to half of it, however small the relative tolerance (a float16 gradient of
    /// 3.3e-7 is 6 × 2^−24 = 3.58e-7).</summary>
    public static double Subnormal<T>() =>
        typeof(T) == typeof(double) ? double.Epsilon
        : typeof(T) == typeof(float) ? float.Epsilon
        : typeof(T) == typeof(Half) ? (double)Half.Epsilon
        : typeof(T) == typeof(BFloat16) ? Math.ScaleB(1, -133)
        : throw new NotSupportedException(typeof(T).Name);

    public static double[] Saturate<T>(double[] values) =>
        Array.ConvertAll(values, v => double.IsFinite(v) && double.IsInfinity(ToDouble(From<T>(v))) ? ToDouble(From<T>(v)) : v);

    public static TTarget[] Targets<TTarget>(long[] values)
        where TTarget : System.Numerics.IBinaryInteger<TTarget> =>
        Array.ConvertAll(values, TTarget.CreateTruncating);

    /// <summary>Asserts each element is within tolerance·(|expected| + scale) of the reference, with NaN matching NaN and
    /// an infinity matching the same infinity. <paramref name="scale"/> defaults to the largest finite |expected|, so
    /// elements near zero are judged against the size of the whole result (their absolute error), as rounding makes them.
    /// <paramref name="spacing"/> is an absolute error allowed besides: the output type's subnormal spacing, where the
    /// whole result can be subnormal.</summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double tolerance,
        string what, double? scale = null, double spacing = 0)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        double s = scale ?? MaxFiniteAbs(expected);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? a == e
                : Math.Abs(a - e) <= tolerance * (Math.Abs(e) + s) + spacing;
            Assert.True(ok, $"{what}[{i}]: got {a:R}, expected {e:R} (tolerance {tolerance}, scale {s:G4})");
        }
    }

    public static double MaxFiniteAbs(ReadOnlySpan<double> values)
    {
        double m = 0;
        foreach (double v in values)
        {
            if (double.IsFinite(v))
            {
                m = Math.Max(m, Math.Abs(v));
            }
        }

        return m;
    }

    /// <summary>Normal deviates (Box–Muller), so tests can draw logits as torch.randn does.</summary>
    public static double NextGaussian(this Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public static double[] Gaussian(Random random, long count, double scale = 1.0)
    {
        double[] values = new double[count];
        for (long i = 0; i < count; i++)
        {
            values[i] = random.NextGaussian() * scale;
        }

        return values;
    }

    public static long[] TargetShape(long[] inputShape) =>
        inputShape.Length == 1 ? [] : [inputShape[0], .. inputShape[2..]];

    public static nint[] N(long[] shape) => Array.ConvertAll(shape, d => (nint)d);

    public static long Product(long[] shape)
    {
        long p = 1;
        foreach (long d in shape)
        {
            p *= d;
        }

        return p;
    }

    /// <summary>The loss's length: one when reduced or for a 1-D input, else one per target.</summary>
    public static long LossLength(long[] inputShape, Reduction reduction) =>
        reduction != Reduction.None || inputShape.Length == 1 ? 1 : Product(TargetShape(inputShape));

    /// <summary>The size of a reduced loss's terms, Σ|l_p| over the denominator: a sum of terms of both signs can
    /// cancel, and its rounding error is relative to this, not to the sum.</summary>
    public static double ReducedScale(ReferenceResult unreduced, Reduction reduction, double denominator)
    {
        double s = 0;
        foreach (double v in unreduced.Loss)
        {
            if (double.IsFinite(v))
            {
                s += Math.Abs(v);
            }
        }

        return reduction == Reduction.Mean && denominator != 0 && double.IsFinite(denominator) ? s / Math.Abs(denominator) : s;
    }
}
