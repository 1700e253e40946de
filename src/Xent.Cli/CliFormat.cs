using Xent.Cli.Npy;

namespace Xent.Cli;

/// <summary>How the CLI names arrays and shapes in its messages: as PyTorch prints sizes.</summary>
internal static class CliFormat
{
    public static string ShapeString(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    public static string Describe(NpyArray array) => $"{array.DType.ToString().ToLowerInvariant()} {ShapeString(array.Shape)}";

    public static long Count(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            count *= d;
        }

        return count;
    }
}
