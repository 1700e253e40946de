using System.Numerics;

namespace Xent;

/// <summary>The negative log-likelihood loss as a module, like <c>torch.nn.NLLLoss</c>, MindSpore's <c>nn.NLLLoss</c>
/// and OneFlow's <c>nn.NLLLoss</c>: options are fixed at construction, tensors are passed to each call.</summary>
/// <remarks>The input holds log-probabilities (for instance from <see cref="Functional.LogSoftmax{T}(ReadOnlySpan{T}, ReadOnlySpan{nint}, int, Span{T})"/>); see
/// <see cref="Functional.NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, Span{T}, ReadOnlySpan{T})"/> for layouts, types and the exact computation.</remarks>
public sealed class NLLLoss
{
    private readonly WeightCache _weight;

    /// <summary>Creates the loss.</summary>
    /// <param name="weight"><see langword="null"/>, or one weight per class (converted to the input's type on use). An
    /// array of none is PyTorch's <c>weight=torch.tensor([])</c>: forward and backward reject it when C ≥ 1.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing; any value.</param>
    /// <param name="reduction">The reduction.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is not a defined value.</exception>
    public NLLLoss(double[]? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        Kernels.LossDriver.CheckReduction(reduction);
        _weight = new WeightCache(weight);
        IgnoreIndex = ignoreIndex;
        Reduction = reduction;
    }

    /// <summary>Creates the loss from PyTorch's deprecated arguments: <c>NLLLoss(weight, size_average, ignore_index, reduce)</c>.</summary>
    /// <param name="weight"><see langword="null"/>, or one weight per class.</param>
    /// <param name="sizeAverage">PyTorch's <c>size_average</c>.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="reduce">PyTorch's <c>reduce</c>.</param>
    /// <returns>The loss with the reduction <see cref="Reductions.FromLegacy"/> gives.</returns>
    public static NLLLoss FromLegacy(double[]? weight, bool? sizeAverage, long ignoreIndex = -100, bool? reduce = null) =>
        new(weight, ignoreIndex, Reductions.FromLegacy(sizeAverage, reduce));

    /// <summary>Gets a copy of the class weights, or <see langword="null"/>.</summary>
    public double[]? Weight => _weight.IsGiven ? _weight.Values.ToArray() : null;

    /// <summary>Gets the ignored target value.</summary>
    public long IgnoreIndex { get; }

    /// <summary>Gets the reduction.</summary>
    public Reduction Reduction { get; }

    /// <summary>Computes the loss.</summary>
    /// <typeparam name="T">float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">long, int or byte.</typeparam>
    /// <param name="input">Log-probabilities.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices.</param>
    /// <param name="targetShape">(), (N) or (N, d1, …, dK).</param>
    /// <param name="loss">1 element when reduced (or for input (C)), else one per target.</param>
    /// <returns>The total weight (the mean's denominator).</returns>
    /// <exception cref="ArgumentException">See <see cref="Functional.NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, Span{T}, ReadOnlySpan{T})"/>.</exception>
    public T Forward<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<TTarget> target,
        ReadOnlySpan<nint> targetShape, Span<T> loss)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget> =>
        Functional.NllLoss(input, inputShape, target, targetShape, loss, Reduction, _weight.As<T>(), _weight.IsGiven, IgnoreIndex, default, default);

    /// <summary>Computes the gradient of the loss w.r.t. the input, given the upstream gradient.</summary>
    /// <typeparam name="T">float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">long, int or byte.</typeparam>
    /// <param name="input">Log-probabilities.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices.</param>
    /// <param name="targetShape">(), (N) or (N, d1, …, dK).</param>
    /// <param name="gradOutput">The upstream gradient, the loss's length (empty for 1).</param>
    /// <param name="gradInput">Receives the gradient, the input's length.</param>
    /// <exception cref="ArgumentException">See <see cref="Functional.NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, Span{T}, ReadOnlySpan{T})"/>.</exception>
    public void Backward<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<TTarget> target,
        ReadOnlySpan<nint> targetShape, ReadOnlySpan<T> gradOutput, Span<T> gradInput)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget> =>
        Functional.NllLoss(input, inputShape, target, targetShape, default, Reduction, _weight.As<T>(), _weight.IsGiven, IgnoreIndex, gradInput, gradOutput);
}

/// <summary>Class weights held in double and converted once per element type.</summary>
internal sealed class WeightCache(double[]? weight)
{
    private readonly double[]? _values = weight?.ToArray();
    private Array? _converted;

    public ReadOnlySpan<double> Values => _values;

    /// <summary>Whether a weight array was given (it may have no elements: PyTorch's <c>weight=torch.tensor([])</c>, an
    /// error for C ≥ 1), rather than none.</summary>
    public bool IsGiven => _values is not null;

    public ReadOnlySpan<T> As<T>()
        where T : unmanaged
    {
        if (_values is null)
        {
            return default;
        }

        if (Volatile.Read(ref _converted) is T[] cached)
        {
            return cached;
        }

        Kernels.LossDriver.CheckElementType<T>();
        var converted = new T[_values.Length];
        for (int i = 0; i < converted.Length; i++)
        {
            converted[i] = Kernels.LossDriver.FromDouble<T>(_values[i]);
        }

        Volatile.Write(ref _converted, converted);
        return converted;
    }
}
