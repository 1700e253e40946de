using System.Numerics;

namespace Xent;

/// <summary>The cross-entropy loss as a module, like <c>torch.nn.CrossEntropyLoss</c> and MindSpore's
/// <c>nn.CrossEntropyLoss</c>: log-softmax over the class dimension, then NLL, with label smoothing; targets are class
/// indices or class probabilities.</summary>
/// <remarks>See <see cref="Functional.CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/> and <see cref="Functional.CrossEntropy{T}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{T}, Span{T}, Reduction, ReadOnlySpan{T}, double, Span{T}, ReadOnlySpan{T}, long)"/> for
/// layouts, types and the exact computation.</remarks>
public sealed class CrossEntropyLoss
{
    private readonly WeightCache _weight;

    /// <summary>Creates the loss.</summary>
    /// <param name="weight"><see langword="null"/>, or one weight per class (converted to the input's type on use). An
    /// array of none is PyTorch's <c>weight=torch.tensor([])</c>: forward and backward reject it when C ≥ 1.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing; any value (must be negative for probability targets).</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="labelSmoothing"/> is above 1 or
    /// <paramref name="reduction"/> is not a defined value.</exception>
    public CrossEntropyLoss(double[]? weight = null, long ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0)
    {
        Kernels.LossDriver.CheckReduction(reduction);
        Kernels.LossDriver.CheckSmoothing(labelSmoothing);
        _weight = new WeightCache(weight);
        IgnoreIndex = ignoreIndex;
        Reduction = reduction;
        LabelSmoothing = labelSmoothing;
    }

    /// <summary>Creates the loss from PyTorch's deprecated arguments.</summary>
    /// <param name="weight"><see langword="null"/>, or one weight per class.</param>
    /// <param name="sizeAverage">PyTorch's <c>size_average</c>.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="reduce">PyTorch's <c>reduce</c>.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <returns>The loss with the reduction <see cref="Reductions.FromLegacy"/> gives.</returns>
    public static CrossEntropyLoss FromLegacy(double[]? weight, bool? sizeAverage, long ignoreIndex = -100, bool? reduce = null, double labelSmoothing = 0) =>
        new(weight, ignoreIndex, Reductions.FromLegacy(sizeAverage, reduce), labelSmoothing);

    /// <summary>Gets a copy of the class weights, or <see langword="null"/>.</summary>
    public double[]? Weight => _weight.IsGiven ? _weight.Values.ToArray() : null;

    /// <summary>Gets the ignored target value.</summary>
    public long IgnoreIndex { get; }

    /// <summary>Gets the reduction.</summary>
    public Reduction Reduction { get; }

    /// <summary>Gets the label smoothing ε.</summary>
    public double LabelSmoothing { get; }

    /// <summary>Computes the loss for class-index targets.</summary>
    /// <typeparam name="T">float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">long, int or byte.</typeparam>
    /// <param name="input">Logits.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices.</param>
    /// <param name="targetShape">(), (N) or (N, d1, …, dK).</param>
    /// <param name="loss">1 element when reduced (or for input (C)), else one per target.</param>
    /// <exception cref="ArgumentException">See <see cref="Functional.CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>.</exception>
    public void Forward<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<TTarget> target,
        ReadOnlySpan<nint> targetShape, Span<T> loss)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget> =>
        Functional.CrossEntropy(input, inputShape, target, targetShape, loss, Reduction, _weight.As<T>(), _weight.IsGiven, IgnoreIndex, LabelSmoothing, default, default);

    /// <summary>Computes the gradient w.r.t. the input for class-index targets, given the upstream gradient.</summary>
    /// <typeparam name="T">float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">long, int or byte.</typeparam>
    /// <param name="input">Logits.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices.</param>
    /// <param name="targetShape">(), (N) or (N, d1, …, dK).</param>
    /// <param name="gradOutput">The upstream gradient, the loss's length (empty for 1).</param>
    /// <param name="gradInput">Receives the gradient, the input's length.</param>
    /// <exception cref="ArgumentException">See <see cref="Functional.CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>.</exception>
    public void Backward<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<TTarget> target,
        ReadOnlySpan<nint> targetShape, ReadOnlySpan<T> gradOutput, Span<T> gradInput)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget> =>
        Functional.CrossEntropy(input, inputShape, target, targetShape, default, Reduction, _weight.As<T>(), _weight.IsGiven, IgnoreIndex, LabelSmoothing, gradInput, gradOutput);

    /// <summary>Computes the loss for class-probability targets (the target has the input's shape).</summary>
    /// <typeparam name="T">float, double, Half or BFloat16.</typeparam>
    /// <param name="input">Logits.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class probabilities.</param>
    /// <param name="loss">1 element when reduced (or for input (C)), else one per position.</param>
    /// <exception cref="ArgumentException">See <see cref="Functional.CrossEntropy{T}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{T}, Span{T}, Reduction, ReadOnlySpan{T}, double, Span{T}, ReadOnlySpan{T}, long)"/>.</exception>
    public void Forward<T>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<T> target, Span<T> loss)
        where T : unmanaged =>
        Functional.CrossEntropy(input, inputShape, target, loss, Reduction, _weight.As<T>(), _weight.IsGiven, LabelSmoothing, default, default, IgnoreIndex);

    /// <summary>Computes the gradient w.r.t. the input for class-probability targets, given the upstream gradient.</summary>
    /// <typeparam name="T">float, double, Half or BFloat16.</typeparam>
    /// <param name="input">Logits.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class probabilities.</param>
    /// <param name="gradOutput">The upstream gradient, the loss's length (empty for 1).</param>
    /// <param name="gradInput">Receives the gradient, the input's length.</param>
    /// <exception cref="ArgumentException">See <see cref="Functional.CrossEntropy{T}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{T}, Span{T}, Reduction, ReadOnlySpan{T}, double, Span{T}, ReadOnlySpan{T}, long)"/>.</exception>
    public void Backward<T>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<T> target, ReadOnlySpan<T> gradOutput, Span<T> gradInput)
        where T : unmanaged =>
        Functional.CrossEntropy(input, inputShape, target, default, Reduction, _weight.As<T>(), _weight.IsGiven, LabelSmoothing, gradInput, gradOutput, IgnoreIndex);
}
