using System.Numerics;
using Xent.Kernels;

namespace Xent;

public static unsafe partial class Functional
{
    /// <summary>The negative log-likelihood loss over native or pinned memory: the same as
    /// <see cref="NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, Span{T}, ReadOnlySpan{T})"/>
    /// for tensors of any size, 2^31 elements and beyond (every index is 64-bit).</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Log-probabilities: as many elements as <paramref name="inputShape"/> says.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices: as many as <paramref name="targetShape"/> says.</param>
    /// <param name="targetShape">() for input (C), (N), or (N, d1, …, dK).</param>
    /// <param name="loss">Null, or room for the loss: 1 element when reduced (or for input (C)), else one per target.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="gradInput">Null, or room for the input's elements: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">Null for 1, else the upstream gradient with the loss's element count.</param>
    /// <returns>The total weight.</returns>
    /// <exception cref="ArgumentException">A shape or the weight does not fit; the messages are PyTorch's.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> or <paramref name="target"/> is null while its shape has elements.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds.</exception>
    /// <remarks>The caller guarantees every pointer covers the element count its shape implies and stays fixed for the call.</remarks>
    public static T NllLoss<T, TTarget>(T* input, ReadOnlySpan<nint> inputShape, TTarget* target,
        ReadOnlySpan<nint> targetShape, T* loss, Reduction reduction = Reduction.Mean, ReadOnlySpan<T> weight = default,
        long ignoreIndex = -100, T* gradInput = null, T* gradOutput = null)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        LossGeometry g = CheckPointers<T, TTarget>(input, inputShape, target, targetShape, reduction, weight.Length, null);
        double totalWeight = typeof(T) == typeof(double)
            ? LossDriver.ClassTarget<T, double, TTarget>(false, g, input, target, loss, reduction, weight, ignoreIndex, 0, gradInput, gradOutput)
            : LossDriver.ClassTarget<T, float, TTarget>(false, g, input, target, loss, reduction, weight, ignoreIndex, 0, gradInput, gradOutput);
        return LossDriver.FromDouble<T>(totalWeight);
    }

    /// <summary>Cross-entropy with class-index targets over native or pinned memory: the same as
    /// <see cref="CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>
    /// for tensors of any size, 2^31 elements and beyond.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Logits: as many elements as <paramref name="inputShape"/> says.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices: as many as <paramref name="targetShape"/> says.</param>
    /// <param name="targetShape">() for input (C), (N), or (N, d1, …, dK).</param>
    /// <param name="loss">Null, or room for the loss: 1 element when reduced (or for input (C)), else one per target.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="gradInput">Null, or room for the input's elements: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">Null for 1, else the upstream gradient with the loss's element count.</param>
    /// <exception cref="ArgumentException">A shape or the weight does not fit; the messages are PyTorch's.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="input"/> or <paramref name="target"/> is null while its shape has elements.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds, or ε is above 1.</exception>
    /// <remarks>The caller guarantees every pointer covers the element count its shape implies and stays fixed for the call.</remarks>
    public static void CrossEntropy<T, TTarget>(T* input, ReadOnlySpan<nint> inputShape, TTarget* target,
        ReadOnlySpan<nint> targetShape, T* loss, Reduction reduction = Reduction.Mean, ReadOnlySpan<T> weight = default,
        long ignoreIndex = -100, double labelSmoothing = 0, T* gradInput = null, T* gradOutput = null)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        LossGeometry g = CheckPointers<T, TTarget>(input, inputShape, target, targetShape, reduction, weight.Length, labelSmoothing);
        _ = typeof(T) == typeof(double)
            ? LossDriver.ClassTarget<T, double, TTarget>(true, g, input, target, loss, reduction, weight, ignoreIndex, labelSmoothing, gradInput, gradOutput)
            : LossDriver.ClassTarget<T, float, TTarget>(true, g, input, target, loss, reduction, weight, ignoreIndex, labelSmoothing, gradInput, gradOutput);
    }

    private static LossGeometry CheckPointers<T, TTarget>(T* input, ReadOnlySpan<nint> inputShape, TTarget* target,
        ReadOnlySpan<nint> targetShape, Reduction reduction, int weightLength, double? labelSmoothing)
        where T : unmanaged
        where TTarget : unmanaged
    {
        CheckClassTargetOptions<T, TTarget>(inputShape, targetShape, reduction, labelSmoothing);
        LossGeometry g = ClassTargetGeometry(inputShape, targetShape, weightLength, weightGiven: false);
        if (input == null && g.Elements > 0)
        {
            throw new ArgumentNullException(nameof(input));
        }

        if (target == null && g.Positions > 0)
        {
            throw new ArgumentNullException(nameof(target));
        }

        return g;
    }
}
