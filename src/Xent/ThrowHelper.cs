using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics;

namespace Xent;

/// <summary>One-line throw helpers, so the callers stay small and the messages stay PyTorch's.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowArgument(string message, string paramName) => throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowTargetOutOfBounds(long target, string paramName = "target") =>
        throw new ArgumentOutOfRangeException(paramName, $"Target {target} is out of bounds.");

    /// <summary>PyTorch's message, with the value in full (PyTorch prints six digits: 1.0000001 as "1") and infinity as
    /// PyTorch prints it, "inf"; a float as written (1.1, not 1.100000023841858).</summary>
    [DoesNotReturn]
    public static void ThrowLabelSmoothing<T>(T labelSmoothing)
        where T : IFloatingPointIeee754<T> =>
        throw new ArgumentOutOfRangeException("labelSmoothing",
            "label_smoothing must be between 0.0 and 1.0. Got: "
            + (T.IsPositiveInfinity(labelSmoothing) ? "inf" : labelSmoothing.ToString("R", CultureInfo.InvariantCulture)));

    [DoesNotReturn]
    public static T ThrowInvalidReduction<T>(Reduction reduction) =>
        throw new ArgumentOutOfRangeException("reduction", $"{(int)reduction} is not a valid value for reduction");

    [DoesNotReturn]
    public static void ThrowUnsupportedType(Type type, string paramName) =>
        throw new NotSupportedException($"Element type {type.Name} of '{paramName}' is not supported; use float, double, Half or BFloat16 for inputs and byte, sbyte, short, ushort, int, uint or long for class targets.");
}
