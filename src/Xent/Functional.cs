using System.Numerics;
using Xent.Kernels;

namespace Xent;

/// <summary>The loss functions as plain calls, like <c>torch.nn.functional</c>: <c>nll_loss</c>, <c>cross_entropy</c>
/// and <c>log_softmax</c>, forward and backward.</summary>
/// <remarks>
/// <para>Tensors are a span of elements in row-major (C) order plus a shape, as a NumPy array: input (C) with target ()
/// (an empty target shape), (N, C) with (N), or (N, C, d1, …, dK) with (N, d1, …, dK). The class dimension is 1
/// (0 for a 1-D input). Element types: <see cref="float"/>, <see cref="double"/>, <see cref="Half"/> and
/// <see cref="BFloat16"/>; Half and BFloat16 are computed and accumulated in float32. Class targets may be
/// <see cref="long"/>, <see cref="int"/> or <see cref="byte"/> (and the other integer types up to 32 bits).</para>
/// <para>Each call validates everything — shapes, lengths, options and every target value — before writing any output,
/// and throws one exception with PyTorch's message. Results are bit-identical for any
/// <see cref="Parallelism.MaxDegreeOfParallelism"/>.</para>
/// <para>An ignored position contributes loss 0 and gradient 0, even where its logits are NaN or infinite.</para>
/// </remarks>
public static partial class Functional
{
    /// <summary>Cross-entropy over 2-D (N, classes) row-major logits with class-index targets, forward and, when
    /// <paramref name="gradInput"/> is not empty, backward in the same call.</summary>
    /// <param name="input">The logits, N·<paramref name="classes"/> floats, row-major.</param>
    /// <param name="classes">The number of classes C (the row length).</param>
    /// <param name="target">N class indices in [0, C), or <paramref name="ignoreIndex"/>.</param>
    /// <param name="gradInput">Empty, or N·C floats that receive the gradient of the returned loss w.r.t. the input.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing; any value, inside [0, C) or not.</param>
    /// <param name="labelSmoothing">ε in [0, 1]: the target becomes (1 − ε)·onehot + ε/C.</param>
    /// <returns>The reduced loss.</returns>
    /// <exception cref="ArgumentException">A length or shape does not fit, or <paramref name="reduction"/> is
    /// <see cref="Reduction.None"/> (use <see cref="CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/> for per-position losses).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is not positive, a target is out of
    /// bounds (<c>Target 7 is out of bounds.</c>), or <paramref name="labelSmoothing"/> is above 1.</exception>
    /// <remarks>Effectively computes PyTorch's
    /// <c>F.cross_entropy(input.view(N, C), target, weight, ignore_index=ignoreIndex, reduction=…, label_smoothing=ε)</c>
    /// and, when asked, <c>input.grad</c> after <c>.backward()</c>.</remarks>
    public static float CrossEntropy(ReadOnlySpan<float> input, int classes, ReadOnlySpan<long> target,
        Span<float> gradInput, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default,
        long ignoreIndex = -100, float labelSmoothing = 0f)
    {
        Span<nint> inputShape = stackalloc nint[2];
        Span<nint> targetShape = stackalloc nint[1];
        RowMajor2D(input.Length, classes, target.Length, reduction, inputShape, targetShape);
        // Checked as a float, so the message shows the value the caller wrote (1.1, not 1.100000023841858).
        LossDriver.CheckSmoothing(labelSmoothing);

        Span<float> loss = stackalloc float[1];
        CrossEntropy(input, inputShape, target, targetShape, loss, reduction, weight, ignoreIndex, labelSmoothing, gradInput);
        return loss[0];
    }

    /// <summary>NLL over 2-D (N, classes) row-major log-probabilities with class-index targets, forward and, when
    /// <paramref name="gradInput"/> is not empty, backward in the same call.</summary>
    /// <param name="input">The log-probabilities, N·<paramref name="classes"/> floats, row-major.</param>
    /// <param name="classes">The number of classes C (the row length).</param>
    /// <param name="target">N class indices in [0, C), or <paramref name="ignoreIndex"/>.</param>
    /// <param name="gradInput">Empty, or N·C floats that receive the gradient of the returned loss w.r.t. the input.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing; any value, inside [0, C) or not.</param>
    /// <returns>The reduced loss.</returns>
    /// <exception cref="ArgumentException">A length or shape does not fit, or <paramref name="reduction"/> is
    /// <see cref="Reduction.None"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="classes"/> is not positive or a target is out of bounds.</exception>
    /// <remarks>Effectively computes PyTorch's <c>F.nll_loss(input.view(N, C), target, weight, ignore_index=ignoreIndex, reduction=…)</c>.</remarks>
    public static float NllLoss(ReadOnlySpan<float> input, int classes, ReadOnlySpan<long> target,
        Span<float> gradInput, Reduction reduction = Reduction.Mean, ReadOnlySpan<float> weight = default,
        long ignoreIndex = -100)
    {
        Span<nint> inputShape = stackalloc nint[2];
        Span<nint> targetShape = stackalloc nint[1];
        RowMajor2D(input.Length, classes, target.Length, reduction, inputShape, targetShape);
        Span<float> loss = stackalloc float[1];
        NllLoss(input, inputShape, target, targetShape, loss, reduction, weight, ignoreIndex, gradInput);
        return loss[0];
    }

    /// <summary>The negative log-likelihood loss over log-probabilities of any supported layout and element type,
    /// forward and (optionally) backward.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Log-probabilities, row-major.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices, row-major.</param>
    /// <param name="targetShape">() for input (C), (N), or (N, d1, …, dK).</param>
    /// <param name="loss">Empty, or the loss: 1 element for Mean and Sum (and for input (C)), else one per target.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="gradInput">Empty, or the input's length: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">The upstream gradient: empty for 1, else the loss's length.</param>
    /// <returns>The total weight: the sum of the weights of the non-ignored targets (their count without weights) — the
    /// denominator of the mean, as MindSpore's <c>ops.NLLLoss</c> and PyTorch's <c>nll_loss_forward</c> return it.</returns>
    /// <exception cref="ArgumentException">A shape, a length or the weight does not fit; the messages are PyTorch's.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds.</exception>
    /// <exception cref="NotSupportedException">An element or target type is not supported.</exception>
    /// <remarks>Effectively computes l = −w[t]·x[t] per position (0 where t = ignoreIndex), then the reduction: the mean
    /// divides by the total weight, so it is NaN when every position is ignored or the batch is empty; a sum of nothing is 0.</remarks>
    public static T NllLoss<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape,
        ReadOnlySpan<TTarget> target, ReadOnlySpan<nint> targetShape, Span<T> loss,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<T> weight = default, long ignoreIndex = -100,
        Span<T> gradInput = default, ReadOnlySpan<T> gradOutput = default)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget> =>
        NllLoss(input, inputShape, target, targetShape, loss, reduction, weight, weightGiven: false, ignoreIndex, gradInput, gradOutput);

    /// <summary><see cref="NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, Span{T}, ReadOnlySpan{T})"/>
    /// for callers that can tell a weight of no elements from none (the modules, the tensor overloads): with
    /// <paramref name="weightGiven"/>, an empty weight is PyTorch's <c>weight=torch.tensor([])</c>, an error for C ≥ 1.</summary>
    internal static T NllLoss<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape,
        ReadOnlySpan<TTarget> target, ReadOnlySpan<nint> targetShape, Span<T> loss, Reduction reduction, ReadOnlySpan<T> weight,
        bool weightGiven, long ignoreIndex, Span<T> gradInput, ReadOnlySpan<T> gradOutput)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        LossGeometry g = CheckClassTarget<T, TTarget>(input.Length, inputShape, target.Length, targetShape, loss.Length, reduction,
            weight.Length, weightGiven, null, gradInput.Length, gradOutput.Length);
        double totalWeight = typeof(T) == typeof(double)
            ? LossDriver.ClassTarget<T, double, TTarget>(false, g, input, target, loss, reduction, weight, ignoreIndex, 0, gradInput, gradOutput)
            : LossDriver.ClassTarget<T, float, TTarget>(false, g, input, target, loss, reduction, weight, ignoreIndex, 0, gradInput, gradOutput);
        return LossDriver.FromDouble<T>(totalWeight);
    }

    /// <summary>MindSpore's functional <c>ops.NLLLoss</c>: the reduced NLL loss and the total weight.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The label type: byte, int or long.</typeparam>
    /// <param name="logits">Log-probabilities of shape <paramref name="logitsShape"/>.</param>
    /// <param name="logitsShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="labels">Class indices, shaped as the logits without the class dimension.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="ignoreIndex">A label value that contributes nothing.</param>
    /// <returns>The loss and the total weight, each in the logits' type.</returns>
    /// <exception cref="ArgumentException"><paramref name="reduction"/> is <see cref="Reduction.None"/> (use
    /// <see cref="NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, Span{T}, ReadOnlySpan{T})"/>), or a shape does not fit.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label is out of bounds.</exception>
    public static (T Loss, T TotalWeight) NllLossWithTotalWeight<T, TTarget>(ReadOnlySpan<T> logits,
        ReadOnlySpan<nint> logitsShape, ReadOnlySpan<TTarget> labels, ReadOnlySpan<T> weight = default,
        Reduction reduction = Reduction.Mean, long ignoreIndex = -100)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        if (reduction == Reduction.None)
        {
            ThrowHelper.ThrowArgument("Reduction.None gives one loss per label; use NllLoss with a loss span of the labels' length.", nameof(reduction));
        }

        Span<nint> labelsShape = stackalloc nint[Math.Max(0, logitsShape.Length - 1)];
        if (logitsShape.Length > 1)
        {
            labelsShape[0] = logitsShape[0];
            logitsShape[2..].CopyTo(labelsShape[1..]);
        }

        T[] loss = new T[1];
        T totalWeight = NllLoss(logits, logitsShape, labels, labelsShape, loss, reduction, weight, ignoreIndex);
        return (loss[0], totalWeight);
    }

    /// <summary>Cross-entropy with class-index targets over logits of any supported layout and element type, forward
    /// and (optionally) backward in one call.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Logits (unnormalized scores), row-major.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices, row-major.</param>
    /// <param name="targetShape">() for input (C), (N), or (N, d1, …, dK).</param>
    /// <param name="loss">Empty, or the loss: 1 element for Mean and Sum (and for input (C)), else one per target.</param>
    /// <param name="reduction">The reduction.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="gradInput">Empty, or the input's length: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">The upstream gradient: empty for 1, else the loss's length.</param>
    /// <exception cref="ArgumentException">A shape, a length or the weight does not fit; the messages are PyTorch's.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds, or ε is above 1.</exception>
    /// <exception cref="NotSupportedException">An element or target type is not supported.</exception>
    /// <remarks>Effectively computes log-softmax over the class dimension, then NLL; with smoothing,
    /// (1 − ε)·nll + (ε/C)·smooth with smooth = −Σ_c w_c·logp_c (0 where ignored), both terms of the mean divided by the
    /// total weight of the non-ignored targets — PyTorch's <c>cross_entropy_loss_label_smoothing</c>.</remarks>
    public static void CrossEntropy<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape,
        ReadOnlySpan<TTarget> target, ReadOnlySpan<nint> targetShape, Span<T> loss,
        Reduction reduction = Reduction.Mean, ReadOnlySpan<T> weight = default, long ignoreIndex = -100,
        double labelSmoothing = 0, Span<T> gradInput = default, ReadOnlySpan<T> gradOutput = default)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget> =>
        CrossEntropy(input, inputShape, target, targetShape, loss, reduction, weight, weightGiven: false, ignoreIndex, labelSmoothing, gradInput, gradOutput);

    /// <summary><see cref="CrossEntropy{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>
    /// for callers that can tell a weight of no elements from none; see <see cref="NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, bool, long, Span{T}, ReadOnlySpan{T})"/>.</summary>
    internal static void CrossEntropy<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape,
        ReadOnlySpan<TTarget> target, ReadOnlySpan<nint> targetShape, Span<T> loss, Reduction reduction, ReadOnlySpan<T> weight,
        bool weightGiven, long ignoreIndex, double labelSmoothing, Span<T> gradInput, ReadOnlySpan<T> gradOutput)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        LossGeometry g = CheckClassTarget<T, TTarget>(input.Length, inputShape, target.Length, targetShape, loss.Length, reduction,
            weight.Length, weightGiven, labelSmoothing, gradInput.Length, gradOutput.Length);
        _ = typeof(T) == typeof(double)
            ? LossDriver.ClassTarget<T, double, TTarget>(true, g, input, target, loss, reduction, weight, ignoreIndex, labelSmoothing, gradInput, gradOutput)
            : LossDriver.ClassTarget<T, float, TTarget>(true, g, input, target, loss, reduction, weight, ignoreIndex, labelSmoothing, gradInput, gradOutput);
    }

    /// <summary>Cross-entropy with class-probability targets (the target has the input's shape), forward and
    /// (optionally) backward in one call.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <param name="input">Logits, row-major.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class probabilities with the input's shape.</param>
    /// <param name="loss">Empty, or the loss: 1 element for Mean and Sum (and for input (C)), else one per position.</param>
    /// <param name="reduction">The reduction; the mean divides by the number of positions N·d1…dK.</param>
    /// <param name="weight">Empty, or C class weights.</param>
    /// <param name="labelSmoothing">ε in [0, 1]: the target becomes t·(1 − ε) + ε/C.</param>
    /// <param name="gradInput">Empty, or the input's length: receives ∂(Σ gradOutput·loss)/∂input.</param>
    /// <param name="gradOutput">The upstream gradient: empty for 1, else the loss's length.</param>
    /// <param name="ignoreIndex">Must be negative: PyTorch rejects ignore_index ≥ 0 with probability targets.</param>
    /// <exception cref="ArgumentException">A shape or length does not fit, or <paramref name="ignoreIndex"/> is not negative
    /// (<c>ignore_index is not supported for floating point target</c>).</exception>
    /// <exception cref="ArgumentOutOfRangeException">ε is above 1.</exception>
    /// <remarks>Effectively computes l = −Σ_c w_c·t'_c·logp_c per position — PyTorch's <c>cross_entropy_loss_prob_target</c>;
    /// the mean over an empty input is NaN.</remarks>
    public static void CrossEntropy<T>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<T> target,
        Span<T> loss, Reduction reduction = Reduction.Mean, ReadOnlySpan<T> weight = default, double labelSmoothing = 0,
        Span<T> gradInput = default, ReadOnlySpan<T> gradOutput = default, long ignoreIndex = -100)
        where T : unmanaged =>
        CrossEntropy(input, inputShape, target, loss, reduction, weight, weightGiven: false, labelSmoothing, gradInput, gradOutput, ignoreIndex);

    /// <summary><see cref="CrossEntropy{T}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{T}, Span{T}, Reduction, ReadOnlySpan{T}, double, Span{T}, ReadOnlySpan{T}, long)"/>
    /// for callers that can tell a weight of no elements from none; see <see cref="NllLoss{T, TTarget}(ReadOnlySpan{T}, ReadOnlySpan{nint}, ReadOnlySpan{TTarget}, ReadOnlySpan{nint}, Span{T}, Reduction, ReadOnlySpan{T}, bool, long, Span{T}, ReadOnlySpan{T})"/>.</summary>
    internal static void CrossEntropy<T>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape, ReadOnlySpan<T> target,
        Span<T> loss, Reduction reduction, ReadOnlySpan<T> weight, bool weightGiven, double labelSmoothing,
        Span<T> gradInput, ReadOnlySpan<T> gradOutput, long ignoreIndex)
        where T : unmanaged
    {
        LossDriver.CheckElementType<T>();
        LossDriver.CheckReduction(reduction);
        Shapes.CheckLength(input.Length, inputShape, nameof(input), nameof(inputShape));
        if (target.Length != input.Length)
        {
            ThrowHelper.ThrowArgument($"Expected a target of class probabilities with the input's {input.Length} elements, got {target.Length}.", nameof(target));
        }

        if (ignoreIndex >= 0)
        {
            ThrowHelper.ThrowArgument("ignore_index is not supported for floating point target", nameof(ignoreIndex));
        }

        LossGeometry g = Shapes.ForProbabilityTarget(inputShape, inputShape);
        // PyTorch's cross_entropy_loss_prob_target checks the weight, then the smoothing.
        Shapes.CheckWeight(weight.Length, g.C, "cross_entropy: ", given: weightGiven);
        LossDriver.CheckSmoothing(labelSmoothing);
        LossDriver.CheckOutputs(g, reduction, loss.Length, input.Length, gradInput.Length, gradOutput.Length);
        if (typeof(T) == typeof(double))
        {
            LossDriver.ProbabilityTarget<T, double>(g, input, target, loss, reduction, weight, labelSmoothing, gradInput, gradOutput);
        }
        else
        {
            LossDriver.ProbabilityTarget<T, float>(g, input, target, loss, reduction, weight, labelSmoothing, gradInput, gradOutput);
        }
    }

    /// <summary>Log-softmax along one dimension: output = x − max − log Σ exp(x − max).</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <param name="input">The values, row-major.</param>
    /// <param name="shape">The shape of <paramref name="input"/>; empty for a scalar.</param>
    /// <param name="dim">The dimension to normalize; negative counts from the end.</param>
    /// <param name="output">The result, the input's length.</param>
    /// <exception cref="ArgumentException">A length does not fit the shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dim"/> is outside the shape.</exception>
    /// <remarks>Effectively computes PyTorch's <c>F.log_softmax(input, dim)</c>: a row with NaN or +∞ is NaN throughout.</remarks>
    public static void LogSoftmax<T>(ReadOnlySpan<T> input, ReadOnlySpan<nint> shape, int dim, Span<T> output)
        where T : unmanaged
    {
        LossDriver.CheckElementType<T>();
        Shapes.CheckLength(input.Length, shape, nameof(input), nameof(shape));
        if (output.Length != input.Length)
        {
            ThrowHelper.ThrowArgument($"'output' has {output.Length} elements but the input has {input.Length}.", nameof(output));
        }

        int rank = Math.Max(1, shape.Length);
        if (dim < -rank || dim >= rank)
        {
            throw new ArgumentOutOfRangeException(nameof(dim), $"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})");
        }

        if (dim < 0)
        {
            dim += rank;
        }

        long outer = 1, inner = 1;
        long c = shape.Length == 0 ? 1 : shape[dim];
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < shape.Length; i++) inner *= shape[i];
        if (c > int.MaxValue)
        {
            ThrowHelper.ThrowArgument($"{c} elements along dim {dim} are more than the {int.MaxValue} supported.", nameof(shape));
        }

        var g = new LossGeometry(outer, (int)c, inner, noBatch: false);
        if (typeof(T) == typeof(double))
        {
            LossDriver.LogSoftmax<T, double>(g, input, output);
        }
        else
        {
            LossDriver.LogSoftmax<T, float>(g, input, output);
        }
    }

    /// <summary>The checks shared by the class-target span calls, in PyTorch's order; <paramref name="labelSmoothing"/>
    /// is null for NLL, which has none.</summary>
    private static LossGeometry CheckClassTarget<T, TTarget>(int inputLength, ReadOnlySpan<nint> inputShape, int targetLength,
        ReadOnlySpan<nint> targetShape, int lossLength, Reduction reduction, int weightLength, bool weightGiven, double? labelSmoothing,
        int gradInputLength, int gradOutputLength)
    {
        CheckClassTargetOptions<T, TTarget>(inputShape, targetShape, reduction, labelSmoothing);
        Shapes.CheckLength(inputLength, inputShape, "input", nameof(inputShape));
        Shapes.CheckLength(targetLength, targetShape, "target", nameof(targetShape));
        LossGeometry g = ClassTargetGeometry(inputShape, targetShape, weightLength, weightGiven);
        LossDriver.CheckOutputs(g, reduction, lossLength, inputLength, gradInputLength, gradOutputLength);
        return g;
    }

    /// <summary>What every class-target call checks first (the span and the pointer calls): the types, the reduction
    /// and, for cross-entropy, the target's kind and the smoothing.</summary>
    private static void CheckClassTargetOptions<T, TTarget>(ReadOnlySpan<nint> inputShape, ReadOnlySpan<nint> targetShape,
        Reduction reduction, double? labelSmoothing)
    {
        LossDriver.CheckElementType<T>();
        LossDriver.CheckTargetType<TTarget>();
        LossDriver.CheckReduction(reduction);
        if (labelSmoothing is double epsilon)
        {
            Shapes.CheckNotProbabilityShaped<TTarget>(inputShape, targetShape);
            LossDriver.CheckSmoothing(epsilon);
        }
    }

    /// <summary>The shapes' geometry, then the weight against its class count (nll_loss2d's message for inputs of three
    /// or more dimensions).</summary>
    private static LossGeometry ClassTargetGeometry(ReadOnlySpan<nint> inputShape, ReadOnlySpan<nint> targetShape, int weightLength,
        bool weightGiven)
    {
        LossGeometry g = Shapes.ForClassTarget(inputShape, targetShape);
        Shapes.CheckWeight(weightLength, g.C, spatial: inputShape.Length > 2, given: weightGiven);
        return g;
    }

    private static void RowMajor2D(int inputLength, int classes, int targetLength, Reduction reduction,
        Span<nint> inputShape, Span<nint> targetShape)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        if (reduction == Reduction.None)
        {
            ThrowHelper.ThrowArgument("Reduction.None gives one loss per row; this overload returns a single value. Use the overload with a loss span.", nameof(reduction));
        }

        if (inputLength % classes != 0)
        {
            ThrowHelper.ThrowArgument($"The input's length {inputLength} is not a multiple of classes ({classes}).", "input");
        }

        inputShape[0] = inputLength / classes;
        inputShape[1] = classes;
        targetShape[0] = targetLength;
    }
}
