using System.Text;

namespace Xent;

/// <summary>The canonical view of a loss problem: input (N, C, D) with D = d1·…·dK, target (N, D).</summary>
/// <remarks>Every supported layout folds into it: (C) with target () is N = 1, D = 1; (N, C) is D = 1;
/// (N, C, d1, …, dK) keeps the class stride D, as PyTorch's <c>nll_loss_nd</c> views it as (N, C, 1, D).</remarks>
internal readonly struct LossGeometry
{
    public readonly long N;
    public readonly int C;
    public readonly long D;

    /// <summary>True for input (C) with target (): the unreduced loss is then a scalar.</summary>
    public readonly bool NoBatch;

    public LossGeometry(long n, int c, long d, bool noBatch)
    {
        N = n;
        C = c;
        D = d;
        NoBatch = noBatch;
    }

    public long Positions => N * D;

    public long Elements => N * C * D;
}

/// <summary>Shape checks, apart from the kernels (as LossNLL.cpp keeps them), with PyTorch's messages.</summary>
internal static class Shapes
{
    /// <summary>Formats a shape as PyTorch prints sizes: <c>[4, 3]</c>.</summary>
    public static string Format(ReadOnlySpan<nint> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }

            sb.Append((long)shape[i]);
        }

        return sb.Append(']').ToString();
    }

    /// <summary>Checks the dims are non-negative and their product fits, and returns it. The product of the nonzero dims
    /// must fit too, even where a zero makes the count 0: the kernels multiply subsets of the dims (positions, the sizes
    /// before and after a softmax dim), and a wrapped product there once made an empty problem loop for ever.</summary>
    public static long ElementCount(ReadOnlySpan<nint> shape, string paramName)
    {
        bool empty = false;
        long nonzero = 1;
        foreach (nint dim in shape)
        {
            if (dim < 0)
            {
                ThrowHelper.ThrowArgument($"Shape {Format(shape)} of '{paramName}' has a negative dimension.", paramName);
            }

            if (dim == 0)
            {
                empty = true;
            }
            else if (nonzero > long.MaxValue / dim)
            {
                ThrowHelper.ThrowArgument(shape.Contains(0)
                    ? $"Shape {Format(shape)} of '{paramName}' has no elements, but its other dimensions multiply past a 64-bit count."
                    : $"Shape {Format(shape)} of '{paramName}' has more elements than fit in a 64-bit count.", paramName);
            }
            else
            {
                nonzero *= dim;
            }
        }

        return empty ? 0 : nonzero;
    }

    /// <summary>Checks a span holds exactly the elements its shape says.</summary>
    public static void CheckLength(long spanLength, ReadOnlySpan<nint> shape, string paramName, string shapeParamName)
    {
        long count = ElementCount(shape, shapeParamName);
        if (count != spanLength)
        {
            ThrowHelper.ThrowArgument($"'{paramName}' has {spanLength} elements but its shape {Format(shape)} needs {count}.", paramName);
        }
    }

    /// <summary>The checks of <c>nll_loss_nd</c>, <c>nll_loss</c> and <c>nll_loss2d</c> for class-index targets, in their order.</summary>
    public static LossGeometry ForClassTarget(ReadOnlySpan<nint> inputShape, ReadOnlySpan<nint> targetShape)
    {
        ElementCount(inputShape, "inputShape");
        ElementCount(targetShape, "targetShape");
        int rank = inputShape.Length;
        if (rank < 1)
        {
            ThrowHelper.ThrowArgument($"Expected 1 or more dimensions (got {rank})", "input");
        }

        if (rank == 1)
        {
            if (targetShape.Length > 1)
            {
                ThrowHelper.ThrowArgument("0D or 1D target tensor expected, multi-target not supported", "target");
            }

            if (targetShape.Length == 1)
            {
                if (targetShape[0] != inputShape[0])
                {
                    ThrowSizeMismatch(inputShape, targetShape);
                }

                ThrowHelper.ThrowArgument("Expected target to be 0D when input is 1D, but got target.dim =1", "target");
            }

            return new LossGeometry(1, Classes(inputShape[0]), 1, noBatch: true);
        }

        if (targetShape.Length == 0)
        {
            ThrowHelper.ThrowArgument(rank == 2
                ? $"size mismatch (got input: {Format(inputShape)}, target: {Format(targetShape)})"
                : $"Expected target size {Format(ExpectedTarget(inputShape))}, got {Format(targetShape)}", "target");
        }

        if (inputShape[0] != targetShape[0])
        {
            ThrowHelper.ThrowArgument($"Expected input batch_size ({(long)inputShape[0]}) to match target batch_size ({(long)targetShape[0]}).", "target");
        }

        if (rank == 2)
        {
            if (targetShape.Length != 1)
            {
                ThrowHelper.ThrowArgument("0D or 1D target tensor expected, multi-target not supported", "target");
            }

            return new LossGeometry(inputShape[0], Classes(inputShape[1]), 1, noBatch: false);
        }

        // PyTorch sends 4-D inputs to nll_loss2d, whose checks have their own words (the size mismatch's odd spacing and
        // missing parenthesis included).
        if (rank == 4 && targetShape.Length != 3)
        {
            ThrowHelper.ThrowArgument($"only batches of spatial targets supported (3D tensors) but got targets of dimension: {targetShape.Length}", "target");
        }

        if (!targetShape[1..].SequenceEqual(inputShape[2..]))
        {
            ThrowHelper.ThrowArgument(rank == 4
                ? $"size mismatch (got input: {Format(inputShape)} , target: {Format(targetShape)}"
                : $"Expected target size {Format(ExpectedTarget(inputShape))}, got {Format(targetShape)}", "target");
        }

        long d = 1;
        foreach (nint dim in inputShape[2..])
        {
            d *= dim;
        }

        return new LossGeometry(inputShape[0], Classes(inputShape[1]), d, noBatch: false);
    }

    /// <summary>Probability targets have the input's shape (PyTorch takes equal shapes to mean probabilities).</summary>
    public static LossGeometry ForProbabilityTarget(ReadOnlySpan<nint> inputShape, ReadOnlySpan<nint> targetShape)
    {
        ElementCount(inputShape, "inputShape");
        if (inputShape.Length < 1)
        {
            ThrowHelper.ThrowArgument($"Expected 1 or more dimensions (got {inputShape.Length})", "input");
        }

        if (!inputShape.SequenceEqual(targetShape))
        {
            ThrowHelper.ThrowArgument($"Expected a target of class probabilities with the input's shape {Format(inputShape)}, got {Format(targetShape)}", "target");
        }

        if (inputShape.Length == 1)
        {
            return new LossGeometry(1, Classes(inputShape[0]), 1, noBatch: true);
        }

        long d = 1;
        foreach (nint dim in inputShape[2..])
        {
            d *= dim;
        }

        return new LossGeometry(inputShape[0], Classes(inputShape[1]), d, noBatch: false);
    }

    /// <summary>The check of <c>nll_loss_forward</c> on the weight, with its message; for inputs of three or more
    /// dimensions (<paramref name="spatial"/>), which PyTorch computes with nll_loss2d, that check's message, whose
    /// numbers Xent adds in parentheses.</summary>
    public static void CheckWeight(long weightLength, int classes, string prefix = "", bool spatial = false, bool given = false)
    {
        // An empty weight means none, unless the caller knows one was given (a tensor or array of no elements).
        if ((weightLength != 0 || given) && weightLength != classes)
        {
            ThrowHelper.ThrowArgument(spatial
                ? $"weight tensor should be defined either for all or no classes (got weight tensor of shape: [{weightLength}] for {classes} classes)"
                : $"{prefix}weight tensor should be defined either for all {classes} classes or no classes but got weight tensor of shape: [{weightLength}]", "weight");
        }
    }

    /// <summary>PyTorch's cross_entropy takes a target of the input's shape to hold class probabilities, so class
    /// indices of that shape are a type error there, before any other check of the shapes or the smoothing.</summary>
    public static void CheckNotProbabilityShaped<TTarget>(ReadOnlySpan<nint> inputShape, ReadOnlySpan<nint> targetShape)
    {
        if (inputShape.SequenceEqual(targetShape))
        {
            string type = typeof(TTarget) == typeof(long) ? "Long" : typeof(TTarget) == typeof(int) ? "Int" : typeof(TTarget) == typeof(byte) ? "Byte" : typeof(TTarget).Name;
            ThrowHelper.ThrowArgument($"Expected floating point type for target with class probabilities, got {type}", "target");
        }
    }

    /// <summary>The loss's shape for a reduction: () when reduced or for input (C), else the target's shape.</summary>
    public static long LossLength(in LossGeometry g, Reduction reduction) => reduction == Reduction.None ? g.Positions : 1;

    private static int Classes(nint c)
    {
        if (c > int.MaxValue)
        {
            ThrowHelper.ThrowArgument($"{(long)c} classes are more than the {int.MaxValue} supported.", "input");
        }

        return (int)c;
    }

    private static nint[] ExpectedTarget(ReadOnlySpan<nint> inputShape)
    {
        var expected = new nint[inputShape.Length - 1];
        expected[0] = inputShape[0];
        inputShape[2..].CopyTo(expected.AsSpan(1));
        return expected;
    }

    private static void ThrowSizeMismatch(ReadOnlySpan<nint> inputShape, ReadOnlySpan<nint> targetShape) =>
        ThrowHelper.ThrowArgument($"size mismatch (got input: {Format(inputShape)}, target: {Format(targetShape)})", "target");
}
