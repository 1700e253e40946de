namespace Xent;

/// <summary>Where <see cref="Functional.LinearCrossEntropy{T, TTarget}"/> writes its optional outputs; every span may
/// be empty, and an empty one is not computed. All are float32 whatever the input type, overwritten (never
/// accumulated into).</summary>
public readonly ref struct LinearCrossEntropyOutputs
{
    /// <summary>Gets the gradient w.r.t. the hidden states: empty or N·hiddenSize floats. Ignored rows get 0.</summary>
    public Span<float> GradHidden { get; init; }

    /// <summary>Gets the gradient w.r.t. the weight: empty or vocab·hiddenSize floats, accumulated over all rows in
    /// float32.</summary>
    public Span<float> GradWeight { get; init; }

    /// <summary>Gets the gradient w.r.t. the bias: empty or vocab floats (the column sums of the logits' gradient;
    /// it may be asked for without a bias, as the gradient at a zero bias).</summary>
    public Span<float> GradBias { get; init; }

    /// <summary>Gets the per-row log-sum-exp of the (biased, capped) logits: empty or N floats. Rows that are ignored
    /// or have no target are not computed and get NaN.</summary>
    public Span<float> Lse { get; init; }

    /// <summary>Gets the per-row loss (cross-entropy, class-weighted and smoothed, plus z-loss), before reduction:
    /// empty or N floats, 0 for rows that are ignored or have no target — PyTorch's <c>reduction='none'</c>.</summary>
    public Span<float> Loss { get; init; }
}

/// <summary>What <see cref="Functional.LinearCrossEntropy{T, TTarget}"/> returns besides its outputs.</summary>
/// <param name="Loss">The reduced loss: cross-entropy plus z-loss (NaN for a mean over no rows).</param>
/// <param name="ZLoss">The z-loss part of <paramref name="Loss"/>, reduced the same way (0 when the scale is 0).</param>
/// <param name="Accuracy">The fraction of non-ignored rows whose largest logit (first on ties) is the target; NaN
/// when no row counts.</param>
/// <param name="TotalWeight">The mean's denominator for the cross-entropy: the sum of the weights of the non-ignored
/// targets, or their count without class weights.</param>
/// <param name="Count">The number of non-ignored rows.</param>
public readonly record struct LinearCrossEntropyResult(float Loss, float ZLoss, float Accuracy, double TotalWeight, long Count);
