using System.Numerics;
using Xent.Linear;

namespace Xent;

public static partial class Functional
{
    /// <summary>Fused linear cross-entropy: the loss of <c>CrossEntropy(hidden · weightᵀ, target)</c> and, when asked,
    /// its gradients w.r.t. <paramref name="hidden"/> and <paramref name="weight"/>, without ever materializing the
    /// N × vocab logits.</summary>
    /// <param name="hidden">The hidden states (N, <paramref name="hiddenSize"/>), row-major.</param>
    /// <param name="weight">The output projection (vocab, <paramref name="hiddenSize"/>), row-major — the layout of
    /// PyTorch's <c>nn.Linear(hiddenSize, vocab).weight</c>.</param>
    /// <param name="hiddenSize">The hidden size h (the row length of both matrices).</param>
    /// <param name="target">N class indices in [0, vocab), or <paramref name="ignoreIndex"/>.</param>
    /// <param name="gradHidden">Empty, or N·h floats that receive ∂loss/∂hidden (overwritten; 0 for ignored rows).</param>
    /// <param name="gradWeight">Empty, or vocab·h floats that receive ∂loss/∂weight (overwritten).</param>
    /// <param name="reduction"><see cref="Reduction.Mean"/> or <see cref="Reduction.Sum"/>.</param>
    /// <param name="ignoreIndex">A target value that contributes nothing; its rows are skipped entirely.</param>
    /// <param name="labelSmoothing">ε in [0, 1]: the target becomes (1 − ε)·onehot + ε/vocab.</param>
    /// <returns>The reduced loss: NaN for a mean over no rows, 0 for a sum over none.</returns>
    /// <exception cref="ArgumentException">A length does not fit the shapes, or <paramref name="reduction"/> is
    /// <see cref="Reduction.None"/> (the richer overload returns per-row losses).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="hiddenSize"/> is not positive, a target is out of
    /// bounds (<c>Target 7 is out of bounds.</c>), or <paramref name="labelSmoothing"/> is above 1.</exception>
    /// <remarks>Effectively computes PyTorch's
    /// <c>F.cross_entropy(hidden @ weight.T, target, ignore_index=ignoreIndex, reduction=…, label_smoothing=ε)</c> and,
    /// when asked, <c>hidden.grad</c> and <c>weight.grad</c> after <c>.backward()</c>. The logits are computed chunk by
    /// chunk of rows into a scratch block of at most 1/32 of their size (and at most 256 rows), turned into their
    /// gradient in place and multiplied back into both gradients; see
    /// <see cref="LinearCrossEntropy{T, TTarget}"/> for the options.</remarks>
    public static float LinearCrossEntropy(ReadOnlySpan<float> hidden, ReadOnlySpan<float> weight, int hiddenSize,
        ReadOnlySpan<long> target, Span<float> gradHidden, Span<float> gradWeight, Reduction reduction = Reduction.Mean,
        long ignoreIndex = -100, float labelSmoothing = 0f)
    {
        var options = new LinearCrossEntropyOptions { Reduction = reduction, IgnoreIndex = ignoreIndex, LabelSmoothing = labelSmoothing };
        var outputs = new LinearCrossEntropyOutputs { GradHidden = gradHidden, GradWeight = gradWeight };
        return LinearCrossEntropyDriver.Run(hidden, weight, default, hiddenSize, target, outputs, options).Loss;
    }

    /// <summary>Fused linear cross-entropy with every option: bias, class weights, label smoothing, z-loss, logit
    /// soft-capping, next-token shifting and gradient filtering; float, Half or BFloat16 inputs; the loss, z-loss,
    /// token accuracy and (optionally) per-row log-sum-exp and losses, and the gradients of the hidden states, weight
    /// and bias, all without materializing the N × vocab logits.</summary>
    /// <typeparam name="T">The element type of the hidden states, weight and bias: float, Half or BFloat16. Products
    /// and every gradient are accumulated in float32.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="hidden">The hidden states (N, <paramref name="hiddenSize"/>), row-major.</param>
    /// <param name="weight">The output projection (vocab, <paramref name="hiddenSize"/>), row-major (nn.Linear's layout).</param>
    /// <param name="bias">Empty, or the vocab-long bias added to every row of logits.</param>
    /// <param name="hiddenSize">The hidden size h.</param>
    /// <param name="target">N class indices in [0, vocab), or the ignore index; with
    /// <see cref="LinearCrossEntropyOptions.Shift"/>, row i is scored against target i + 1.</param>
    /// <param name="outputs">The optional outputs (gradients, per-row lse and losses); empty spans are not computed.</param>
    /// <param name="options">The options; <see cref="LinearCrossEntropyOptions.Default"/> when null.</param>
    /// <returns>The reduced loss (cross-entropy plus z-loss), its z-loss part, the token accuracy, the total weight and
    /// the number of rows that count.</returns>
    /// <exception cref="ArgumentException">A length does not fit the shapes (messages name the parameter), the
    /// reduction is <see cref="Reduction.None"/>, or the rows are not whole sequences.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="hiddenSize"/> is not positive, a target is out of
    /// bounds, or an option is out of its range (smoothing above 1, a negative or non-finite z-loss scale or
    /// soft cap, a negative sequence length or chunk size).</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16, or
    /// <typeparamref name="TTarget"/> is not a supported index type.</exception>
    /// <remarks>
    /// <para>Effectively computes, with z = cap·tanh((hidden·weightᵀ + bias) / cap) (z = hidden·weightᵀ + bias without a
    /// cap), the per-row loss <c>F.cross_entropy(z, target, weight=classWeight, reduction='none', label_smoothing=ε)
    /// + s·logsumexp(z)²</c> over the rows whose target is not ignored, reduced as
    /// <c>Functional.CrossEntropy</c> reduces: the mean divides the cross-entropy by the total weight of those rows
    /// and the z-loss by their count (as Liger-Kernel does); the gradients are those of the reduced loss.</para>
    /// <para>Rows are processed in chunks: each chunk's logits (chunk × vocab floats, at most 1/32 of the full logits
    /// and at most 256 rows, or <see cref="LinearCrossEntropyOptions.ChunkRows"/>) are computed by a managed SIMD GEMM,
    /// turned into their gradient in place, and multiplied into gradHidden = G·W and gradWeight += Gᵀ·H. Ignored rows
    /// are left out of every product. Results are bit-identical for any
    /// <see cref="Parallelism.MaxDegreeOfParallelism"/>.</para>
    /// </remarks>
    public static LinearCrossEntropyResult LinearCrossEntropy<T, TTarget>(ReadOnlySpan<T> hidden, ReadOnlySpan<T> weight,
        ReadOnlySpan<T> bias, int hiddenSize, ReadOnlySpan<TTarget> target, LinearCrossEntropyOutputs outputs = default,
        LinearCrossEntropyOptions? options = null)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(Half) && typeof(T) != typeof(BFloat16))
        {
            throw new NotSupportedException($"Element type {typeof(T).Name} of 'hidden' is not supported by LinearCrossEntropy; use float, Half or BFloat16.");
        }

        Kernels.LossDriver.CheckTargetType<TTarget>();
        return LinearCrossEntropyDriver.Run(hidden, weight, bias, hiddenSize, target, outputs, options ?? LinearCrossEntropyOptions.Default);
    }
}
