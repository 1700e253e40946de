namespace Xent;

/// <summary>Specifies the reduction applied to the per-position losses, as PyTorch's <c>reduction</c> argument.</summary>
public enum Reduction
{
    /// <summary>No reduction: one loss per position, shaped like the target.</summary>
    None = 0,

    /// <summary>The weighted mean: the sum of the losses divided by the sum of the weights of the non-ignored targets
    /// (their count without weights); for probability targets, divided by the number of positions.</summary>
    Mean = 1,

    /// <summary>The sum of the losses.</summary>
    Sum = 2,
}

/// <summary>Helpers for <see cref="Reduction"/>: PyTorch's legacy arguments and its string names.</summary>
public static class Reductions
{
    /// <summary>Maps PyTorch's deprecated <c>size_average</c> and <c>reduce</c> arguments to a <see cref="Reduction"/>,
    /// exactly as <c>torch.nn._reduction.legacy_get_string</c> does.</summary>
    /// <param name="sizeAverage">PyTorch's <c>size_average</c>; <see langword="null"/> means its default, <see langword="true"/>.</param>
    /// <param name="reduce">PyTorch's <c>reduce</c>; <see langword="null"/> means its default, <see langword="true"/>.</param>
    /// <returns><see cref="Reduction.None"/> when <paramref name="reduce"/> is false; otherwise <see cref="Reduction.Sum"/>
    /// when <paramref name="sizeAverage"/> is false; otherwise <see cref="Reduction.Mean"/>.</returns>
    public static Reduction FromLegacy(bool? sizeAverage = null, bool? reduce = null)
    {
        if (!(reduce ?? true))
        {
            return Reduction.None;
        }

        return (sizeAverage ?? true) ? Reduction.Mean : Reduction.Sum;
    }

    /// <summary>Parses PyTorch's reduction names <c>"none"</c>, <c>"mean"</c> and <c>"sum"</c>, and the deprecated
    /// <c>"elementwise_mean"</c>, which PyTorch 2.x still takes as <c>"mean"</c> (with a warning).</summary>
    /// <param name="value">The name, in lower case as PyTorch spells it.</param>
    /// <returns>The matching <see cref="Reduction"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not one of those names.</exception>
    public static Reduction Parse(string value) => value switch
    {
        "none" => Reduction.None,
        "mean" or "elementwise_mean" => Reduction.Mean,
        "sum" => Reduction.Sum,
        _ => throw new ArgumentException($"{value} is not a valid value for reduction", nameof(value)),
    };

    /// <summary>Returns PyTorch's name for <paramref name="reduction"/>: <c>"none"</c>, <c>"mean"</c> or <c>"sum"</c>.</summary>
    /// <param name="reduction">The reduction.</param>
    /// <returns>The lower-case name.</returns>
    public static string ToPyTorchString(this Reduction reduction) => reduction switch
    {
        Reduction.None => "none",
        Reduction.Mean => "mean",
        Reduction.Sum => "sum",
        _ => ThrowHelper.ThrowInvalidReduction<string>(reduction),
    };
}
