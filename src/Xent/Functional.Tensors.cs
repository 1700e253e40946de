using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Xent.Kernels;

namespace Xent;

// The System.Numerics.Tensors overloads: ReadOnlyTensorSpan<T> in, TensorSpan<T> out, Tensor<T> for convenience.
// Each one only turns its tensors into spans and shapes and calls the span API, which validates and computes.
public static partial class Functional
{
    /// <summary>Cross-entropy with class-index targets over tensors, reduced to one value, with the gradient when
    /// <paramref name="gradInput"/> is not empty.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Logits (C), (N, C) or (N, C, d1, …, dK). Strided tensors are copied to a dense buffer first.</param>
    /// <param name="target">Class indices (N) or (N, d1, …, dK); for input (C), any tensor of one element (a tensor
    /// span cannot have rank 0).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Empty, or C class weights (rank 1).</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="gradInput">Empty, or a dense tensor of the input's shape that receives the gradient of the
    /// returned loss.</param>
    /// <returns>The reduced loss.</returns>
    /// <exception cref="ArgumentException">A shape does not fit (PyTorch's messages), <paramref name="gradInput"/> is
    /// not dense, or <paramref name="reduction"/> is <see cref="Reduction.None"/> (use the overload with a loss tensor).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds, or ε is above 1.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or an element
    /// or target type is not supported.</exception>
    /// <remarks>Effectively computes PyTorch's <c>F.cross_entropy(input, target, weight, ignore_index=ignoreIndex,
    /// reduction=…, label_smoothing=ε)</c>, as
    /// <see cref="CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>.
    /// A dense tensor is read in place, without a copy.</remarks>
    public static T CrossEntropy<T, TTarget>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<TTarget> target,
        Reduction reduction = Reduction.Mean, in ReadOnlyTensorSpan<T> weight = default, long ignoreIndex = -100,
        double labelSmoothing = 0, in TensorSpan<T> gradInput = default)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        TensorArgs.CheckReduced(reduction);
        Span<T> loss = stackalloc T[1];
        CrossEntropy(input, target, new TensorSpan<T>(loss), reduction, weight, ignoreIndex, labelSmoothing, gradInput);
        return loss[0];
    }

    /// <summary>Cross-entropy with class-index targets over tensors, forward and (optionally) backward, with any
    /// reduction.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Logits (C), (N, C) or (N, C, d1, …, dK). Strided tensors are copied to a dense buffer first.</param>
    /// <param name="target">Class indices (N) or (N, d1, …, dK); for input (C), any tensor of one element.</param>
    /// <param name="loss">Empty, or a dense tensor: of the target's shape for <see cref="Reduction.None"/>, else of one
    /// element (rank 0 does not exist for tensor spans).</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Empty, or C class weights (rank 1).</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="gradInput">Empty, or a dense tensor of the input's shape: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">Empty for 1, else the upstream gradient, of the loss's shape.</param>
    /// <exception cref="ArgumentException">A shape does not fit (PyTorch's messages), or an output is not dense.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds, or ε is above 1.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or an element
    /// or target type is not supported.</exception>
    /// <remarks>Effectively computes what
    /// <see cref="CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>
    /// computes on the tensors' elements in row-major order. Dense tensors are used in place; a strided input, target,
    /// weight or gradOutput is first copied to a dense buffer (one allocation of its size); outputs must be dense.</remarks>
    public static void CrossEntropy<T, TTarget>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<TTarget> target,
        in TensorSpan<T> loss, Reduction reduction = Reduction.Mean, in ReadOnlyTensorSpan<T> weight = default,
        long ignoreIndex = -100, double labelSmoothing = 0, in TensorSpan<T> gradInput = default,
        in ReadOnlyTensorSpan<T> gradOutput = default)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        ReadOnlySpan<nint> targetShape = TensorArgs.TargetShape(input, target);
        TensorArgs.CheckOutputs(input, target, targetShape.Length == 0, loss, reduction, gradInput);
        CrossEntropy(TensorArgs.Read(input, nameof(input)), input.Lengths, TensorArgs.Read(target, nameof(target)),
            targetShape, TensorArgs.Write(loss, nameof(loss)), reduction, TensorArgs.ReadWeight(weight), TensorArgs.IsGiven(weight),
            ignoreIndex, labelSmoothing, TensorArgs.Write(gradInput, nameof(gradInput)), TensorArgs.Read(gradOutput, nameof(gradOutput)));
    }

    /// <summary>Cross-entropy with class-index targets over tensors, returning the loss as a new tensor.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Logits (C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices (N) or (N, d1, …, dK); for input (C), any tensor of one element.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Null, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <returns>A new dense tensor: the per-position losses with the target's shape for <see cref="Reduction.None"/>,
    /// else the reduced loss as a tensor of shape [1] (use the overload returning <typeparamref name="T"/> to get the value).</returns>
    /// <exception cref="ArgumentException">A shape does not fit (PyTorch's messages).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds, or ε is above 1.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or an element
    /// or target type is not supported.</exception>
    public static Tensor<T> CrossEntropy<T, TTarget>(Tensor<T> input, Tensor<TTarget> target,
        Reduction reduction = Reduction.Mean, Tensor<T>? weight = null, long ignoreIndex = -100, double labelSmoothing = 0)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        Tensor<T> loss = TensorArgs.NewLoss<T, TTarget>(input, target, reduction, crossEntropy: true);
        CrossEntropy(input.AsReadOnlyTensorSpan(), target.AsReadOnlyTensorSpan(), loss.AsTensorSpan(), reduction,
            TensorArgs.Of(weight), ignoreIndex, labelSmoothing);
        return loss;
    }

    /// <summary>Cross-entropy with class-probability targets (the target has the input's shape) over tensors, reduced
    /// to one value, with the gradient when <paramref name="gradInput"/> is not empty.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <param name="input">Logits (C), (N, C) or (N, C, d1, …, dK). Strided tensors are copied to a dense buffer first.</param>
    /// <param name="target">Class probabilities of the input's shape.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> (÷ N·d1…dK) or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Empty, or C class weights (rank 1).</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="gradInput">Empty, or a dense tensor of the input's shape that receives the gradient of the
    /// returned loss.</param>
    /// <returns>The reduced loss.</returns>
    /// <exception cref="ArgumentException">A shape does not fit, <paramref name="gradInput"/> is not dense, or
    /// <paramref name="reduction"/> is <see cref="Reduction.None"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">ε is above 1.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or the element
    /// type is not supported.</exception>
    /// <remarks>Effectively computes PyTorch's <c>F.cross_entropy(input, target)</c> with probability targets, as
    /// <see cref="CrossEntropy{T}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{T}, Span{T}, Reduction, ReadOnlySpan{T}, double, Span{T}, ReadOnlySpan{T}, long)"/>.</remarks>
    public static T CrossEntropy<T>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<T> target,
        Reduction reduction = Reduction.Mean, in ReadOnlyTensorSpan<T> weight = default, double labelSmoothing = 0,
        in TensorSpan<T> gradInput = default)
        where T : unmanaged
    {
        TensorArgs.CheckReduced(reduction);
        Span<T> loss = stackalloc T[1];
        CrossEntropy(input, target, new TensorSpan<T>(loss), reduction, weight, labelSmoothing, gradInput);
        return loss[0];
    }

    /// <summary>Cross-entropy with class-probability targets over tensors, forward and (optionally) backward, with any
    /// reduction.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <param name="input">Logits (C), (N, C) or (N, C, d1, …, dK). Strided tensors are copied to a dense buffer first.</param>
    /// <param name="target">Class probabilities of the input's shape.</param>
    /// <param name="loss">Empty, or a dense tensor: (N, d1, …, dK) for <see cref="Reduction.None"/> with a batched
    /// input, else of one element.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Empty, or C class weights (rank 1).</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="gradInput">Empty, or a dense tensor of the input's shape: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">Empty for 1, else the upstream gradient, of the loss's shape.</param>
    /// <exception cref="ArgumentException">A shape does not fit, or an output is not dense.</exception>
    /// <exception cref="ArgumentOutOfRangeException">ε is above 1.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or the element
    /// type is not supported.</exception>
    /// <remarks>Dense tensors are used in place; strided inputs are first copied to a dense buffer; outputs must be dense.</remarks>
    public static void CrossEntropy<T>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<T> target,
        in TensorSpan<T> loss, Reduction reduction = Reduction.Mean, in ReadOnlyTensorSpan<T> weight = default,
        double labelSmoothing = 0, in TensorSpan<T> gradInput = default, in ReadOnlyTensorSpan<T> gradOutput = default)
        where T : unmanaged
    {
        if (!input.Lengths.SequenceEqual(target.Lengths))
        {
            ThrowHelper.ThrowArgument($"Expected a target of class probabilities with the input's shape {Shapes.Format(input.Lengths)}, got {Shapes.Format(target.Lengths)}", nameof(target));
        }

        ReadOnlySpan<nint> lossShape = input.Rank > 1 ? TensorArgs.WithoutClassDim(input.Lengths) : default;
        TensorArgs.CheckOutputs(input, lossShape, input.Rank == 1, loss, reduction, gradInput);
        CrossEntropy(TensorArgs.Read(input, nameof(input)), input.Lengths, TensorArgs.Read(target, nameof(target)),
            TensorArgs.Write(loss, nameof(loss)), reduction, TensorArgs.ReadWeight(weight), TensorArgs.IsGiven(weight), labelSmoothing,
            TensorArgs.Write(gradInput, nameof(gradInput)), TensorArgs.Read(gradOutput, nameof(gradOutput)), -100);
    }

    /// <summary>Cross-entropy with class-probability targets over tensors, returning the loss as a new tensor.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <param name="input">Logits (C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class probabilities of the input's shape.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Null, or C class weights.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <returns>A new dense tensor: (N, d1, …, dK) for <see cref="Reduction.None"/> with a batched input, else of shape [1].</returns>
    /// <exception cref="ArgumentException">A shape does not fit.</exception>
    /// <exception cref="ArgumentOutOfRangeException">ε is above 1.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or the element
    /// type is not supported.</exception>
    public static Tensor<T> CrossEntropy<T>(Tensor<T> input, Tensor<T> target, Reduction reduction = Reduction.Mean,
        Tensor<T>? weight = null, double labelSmoothing = 0)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        LossDriver.CheckReduction(reduction);
        nint[] lossShape = reduction == Reduction.None && input.Rank > 1 ? TensorArgs.WithoutClassDim(input.Lengths) : [1];
        Tensor<T> loss = Tensor.CreateFromShape<T>(lossShape);
        CrossEntropy(input.AsReadOnlyTensorSpan(), target.AsReadOnlyTensorSpan(), loss.AsTensorSpan(), reduction,
            TensorArgs.Of(weight), labelSmoothing);
        return loss;
    }

    /// <summary>The negative log-likelihood of log-probability tensors, reduced to one value, with the gradient when
    /// <paramref name="gradInput"/> is not empty.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Log-probabilities (C), (N, C) or (N, C, d1, …, dK). Strided tensors are copied first.</param>
    /// <param name="target">Class indices (N) or (N, d1, …, dK); for input (C), any tensor of one element.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Empty, or C class weights (rank 1).</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="gradInput">Empty, or a dense tensor of the input's shape that receives the gradient of the
    /// returned loss.</param>
    /// <returns>The reduced loss.</returns>
    /// <exception cref="ArgumentException">A shape does not fit (PyTorch's messages), <paramref name="gradInput"/> is
    /// not dense, or <paramref name="reduction"/> is <see cref="Reduction.None"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or an element
    /// or target type is not supported.</exception>
    /// <remarks>Effectively computes PyTorch's <c>F.nll_loss(input, target, weight, ignore_index=ignoreIndex, reduction=…)</c>.</remarks>
    public static T NllLoss<T, TTarget>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<TTarget> target,
        Reduction reduction = Reduction.Mean, in ReadOnlyTensorSpan<T> weight = default, long ignoreIndex = -100,
        in TensorSpan<T> gradInput = default)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        TensorArgs.CheckReduced(reduction);
        Span<T> loss = stackalloc T[1];
        NllLoss(input, target, new TensorSpan<T>(loss), reduction, weight, ignoreIndex, gradInput);
        return loss[0];
    }

    /// <summary>The negative log-likelihood of log-probability tensors, forward and (optionally) backward, with any
    /// reduction.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Log-probabilities (C), (N, C) or (N, C, d1, …, dK). Strided tensors are copied first.</param>
    /// <param name="target">Class indices (N) or (N, d1, …, dK); for input (C), any tensor of one element.</param>
    /// <param name="loss">Empty, or a dense tensor: of the target's shape for <see cref="Reduction.None"/>, else of one
    /// element.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Empty, or C class weights (rank 1).</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="gradInput">Empty, or a dense tensor of the input's shape: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">Empty for 1, else the upstream gradient, of the loss's shape.</param>
    /// <returns>The total weight of the non-ignored targets (the mean's denominator), as
    /// <see cref="NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, Span{T}, ReadOnlySpan{T})"/>.</returns>
    /// <exception cref="ArgumentException">A shape does not fit (PyTorch's messages), or an output is not dense.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or an element
    /// or target type is not supported.</exception>
    /// <remarks>Dense tensors are used in place; strided inputs are first copied to a dense buffer; outputs must be dense.</remarks>
    public static T NllLoss<T, TTarget>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<TTarget> target,
        in TensorSpan<T> loss, Reduction reduction = Reduction.Mean, in ReadOnlyTensorSpan<T> weight = default,
        long ignoreIndex = -100, in TensorSpan<T> gradInput = default, in ReadOnlyTensorSpan<T> gradOutput = default)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        ReadOnlySpan<nint> targetShape = TensorArgs.TargetShape(input, target);
        TensorArgs.CheckOutputs(input, target, targetShape.Length == 0, loss, reduction, gradInput);
        return NllLoss(TensorArgs.Read(input, nameof(input)), input.Lengths, TensorArgs.Read(target, nameof(target)),
            targetShape, TensorArgs.Write(loss, nameof(loss)), reduction, TensorArgs.ReadWeight(weight), TensorArgs.IsGiven(weight),
            ignoreIndex, TensorArgs.Write(gradInput, nameof(gradInput)), TensorArgs.Read(gradOutput, nameof(gradOutput)));
    }

    /// <summary>The negative log-likelihood of log-probability tensors, returning the loss as a new tensor.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Log-probabilities (C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices (N) or (N, d1, …, dK); for input (C), any tensor of one element.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Null, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <returns>A new dense tensor: the per-position losses with the target's shape for <see cref="Reduction.None"/>,
    /// else the reduced loss as a tensor of shape [1].</returns>
    /// <exception cref="ArgumentException">A shape does not fit (PyTorch's messages).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or an element
    /// or target type is not supported.</exception>
    public static Tensor<T> NllLoss<T, TTarget>(Tensor<T> input, Tensor<TTarget> target,
        Reduction reduction = Reduction.Mean, Tensor<T>? weight = null, long ignoreIndex = -100)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        Tensor<T> loss = TensorArgs.NewLoss<T, TTarget>(input, target, reduction, crossEntropy: false);
        NllLoss(input.AsReadOnlyTensorSpan(), target.AsReadOnlyTensorSpan(), loss.AsTensorSpan(), reduction,
            TensorArgs.Of(weight), ignoreIndex);
        return loss;
    }

    /// <summary>Log-softmax of a tensor along one dimension.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <param name="input">The values. A strided tensor is copied to a dense buffer first.</param>
    /// <param name="dim">The dimension to normalize; negative counts from the end.</param>
    /// <param name="output">A dense tensor of the input's shape.</param>
    /// <exception cref="ArgumentException">The output's shape differs from the input's, or it is not dense.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dim"/> is outside the shape.</exception>
    /// <exception cref="NotSupportedException">A tensor has more than <see cref="int.MaxValue"/> elements, or the element
    /// type is not supported.</exception>
    /// <remarks>Effectively computes PyTorch's <c>F.log_softmax(input, dim)</c>.</remarks>
    public static void LogSoftmax<T>(in ReadOnlyTensorSpan<T> input, int dim, in TensorSpan<T> output)
        where T : unmanaged
    {
        if (!output.Lengths.SequenceEqual(input.Lengths))
        {
            ThrowHelper.ThrowArgument($"'output' has shape {Shapes.Format(output.Lengths)} but the input has {Shapes.Format(input.Lengths)}.", nameof(output));
        }

        LogSoftmax(TensorArgs.Read(input, nameof(input)), input.Lengths, dim, TensorArgs.Write(output, nameof(output)));
    }

    /// <summary>Log-softmax of a tensor along one dimension, as a new tensor.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <param name="input">The values.</param>
    /// <param name="dim">The dimension to normalize; negative counts from the end.</param>
    /// <returns>A new dense tensor of the input's shape.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dim"/> is outside the shape.</exception>
    /// <exception cref="NotSupportedException">The tensor has more than <see cref="int.MaxValue"/> elements, or the
    /// element type is not supported.</exception>
    public static Tensor<T> LogSoftmax<T>(Tensor<T> input, int dim)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(input);
        Tensor<T> output = Tensor.CreateFromShape<T>(input.Lengths);
        LogSoftmax(input.AsReadOnlyTensorSpan(), dim, output.AsTensorSpan());
        return output;
    }
}

/// <summary>Turns tensor spans into the spans and shapes of the span API: dense memory in place, strided inputs copied.</summary>
internal static class TensorArgs
{
    /// <summary>The elements of an input tensor in row-major order: its own memory when it is dense, else a dense copy.</summary>
    public static ReadOnlySpan<T> Read<T>(in ReadOnlyTensorSpan<T> tensor, string paramName)
    {
        int length = CheckLength(tensor.FlattenedLength, paramName);
        if (length == 0)
        {
            return default;
        }

        if (tensor.IsDense)
        {
            return MemoryMarshal.CreateReadOnlySpan(in tensor.GetPinnableReference(), length);
        }

        // A strided view (a transpose, a slice, a broadcast) has no row-major span; FlattenTo copies its elements in
        // row-major order of its lengths, which is what the span API expects.
        var copy = new T[length];
        tensor.FlattenTo(copy);
        return copy;
    }

    /// <summary>The memory of an output tensor, which must be dense: writing through a copy would need a second pass
    /// back, and a broadcast view (stride 0) would make several outputs one element.</summary>
    public static Span<T> Write<T>(in TensorSpan<T> tensor, string paramName)
    {
        int length = CheckLength(tensor.FlattenedLength, paramName);
        if (length == 0)
        {
            return default;
        }

        if (!tensor.IsDense)
        {
            ThrowHelper.ThrowArgument($"'{paramName}' must be a dense (contiguous, row-major) tensor to be written; it has lengths {Shapes.Format(tensor.Lengths)} and strides {Shapes.Format(tensor.Strides)}.", paramName);
        }

        return MemoryMarshal.CreateSpan(ref tensor.GetPinnableReference(), length);
    }

    public static ReadOnlySpan<T> ReadWeight<T>(in ReadOnlyTensorSpan<T> weight)
    {
        if (weight.FlattenedLength != 0 && weight.Rank != 1)
        {
            ThrowHelper.ThrowArgument($"weight tensor should be 1-D, but got weight tensor of shape: {Shapes.Format(weight.Lengths)}", "weight");
        }

        return Read(weight, "weight");
    }

    public static ReadOnlyTensorSpan<T> Of<T>(Tensor<T>? tensor) => tensor is null ? default : tensor.AsReadOnlyTensorSpan();

    /// <summary>Whether a weight was given: a tensor span of no elements (PyTorch's <c>weight=torch.tensor([])</c>, an
    /// error for C ≥ 1) has a rank, the default one (no weight, <c>weight=None</c>) has none.</summary>
    public static bool IsGiven<T>(in ReadOnlyTensorSpan<T> weight) => weight.Rank > 0;

    /// <summary>The target shape for the span API. A tensor span cannot have rank 0, so for an input (C) a target of one
    /// element, whatever its rank, stands for PyTorch's 0-D target.</summary>
    public static ReadOnlySpan<nint> TargetShape<T, TTarget>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<TTarget> target) =>
        input.Rank == 1 && target.FlattenedLength == 1 ? default : target.Lengths;

    public static void CheckReduced(Reduction reduction)
    {
        if (reduction == Reduction.None)
        {
            ThrowHelper.ThrowArgument("Reduction.None gives one loss per position; this overload returns a single value. Use the overload with a loss tensor.", nameof(reduction));
        }
    }

    /// <summary>Shape checks the span API cannot make, as it sees only lengths: an unreduced loss has the target's shape
    /// (one element for input (C)), a reduced one has one element, and the gradient has the input's shape.</summary>
    public static void CheckOutputs<T, TTarget>(in ReadOnlyTensorSpan<T> input, in ReadOnlyTensorSpan<TTarget> target, bool noBatch,
        in TensorSpan<T> loss, Reduction reduction, in TensorSpan<T> gradInput) =>
        CheckOutputs(input, target.Lengths, noBatch, loss, reduction, gradInput);

    public static void CheckOutputs<T>(in ReadOnlyTensorSpan<T> input, ReadOnlySpan<nint> lossShape, bool noBatch,
        in TensorSpan<T> loss, Reduction reduction, in TensorSpan<T> gradInput)
    {
        LossDriver.CheckReduction(reduction);
        if (loss.FlattenedLength != 0)
        {
            if (reduction == Reduction.None && !noBatch)
            {
                if (!loss.Lengths.SequenceEqual(lossShape))
                {
                    ThrowHelper.ThrowArgument($"Expected a loss of shape {Shapes.Format(lossShape)} for reduction 'none', got {Shapes.Format(loss.Lengths)}.", nameof(loss));
                }
            }
            else if (loss.FlattenedLength != 1)
            {
                ThrowHelper.ThrowArgument($"Expected a loss of one element for reduction '{reduction.ToPyTorchString()}'{(noBatch ? " with a 1-D input" : string.Empty)}, got shape {Shapes.Format(loss.Lengths)}.", nameof(loss));
            }
        }

        if (gradInput.FlattenedLength != 0 && !gradInput.Lengths.SequenceEqual(input.Lengths))
        {
            ThrowHelper.ThrowArgument($"'gradInput' has shape {Shapes.Format(gradInput.Lengths)} but the input has {Shapes.Format(input.Lengths)}.", nameof(gradInput));
        }
    }

    public static Tensor<T> NewLoss<T, TTarget>(Tensor<T> input, Tensor<TTarget> target, Reduction reduction, bool crossEntropy)
    {
        LossDriver.CheckReduction(reduction);
        if (reduction == Reduction.None)
        {
            // The shapes first, with PyTorch's messages: sized from a target that does not fit, the new loss would fail
            // the output check with a message about a buffer the caller never passed.
            LossDriver.CheckElementType<T>();
            LossDriver.CheckTargetType<TTarget>();
            if (crossEntropy)
            {
                Shapes.CheckNotProbabilityShaped<TTarget>(input.Lengths, target.Lengths);
            }

            Shapes.ForClassTarget(input.Lengths, target.Lengths);
        }

        bool perPosition = reduction == Reduction.None && input.Rank > 1;
        return Tensor.CreateFromShape<T>(perPosition ? target.Lengths : [1]);
    }

    /// <summary>(N, C, d1, …, dK) without C: the shape of the per-position loss.</summary>
    public static nint[] WithoutClassDim(ReadOnlySpan<nint> shape) => [shape[0], .. shape[2..]];

    private static int CheckLength(nint length, string paramName)
    {
        // The span API indexes with int. Longer tensors need long-indexed kernels, which do not exist yet.
        if (length > int.MaxValue)
        {
            throw new NotSupportedException($"'{paramName}' has {(long)length} elements; tensors of more than {int.MaxValue} elements are not supported yet.");
        }

        return (int)length;
    }
}
