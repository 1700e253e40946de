namespace Xent.Bench;

/// <summary>
/// One benchmark input: row-major <c>[rows, classes]</c> fp32 logits, class-index targets, optional class weights.
/// Deterministic for a given seed (each block of rows has its own generator, so the parallel fill does not
/// depend on scheduling). Every <see cref="IgnoreEvery"/>-th row targets <see cref="IgnoreIndex"/>, so the
/// ignore path and the "mean over the weight of kept rows" denominator are always exercised.
/// </summary>
internal sealed class Problem
{
    public const long IgnoreIndex = -100;
    public const int IgnoreEvery = 31;

    private const int RowsPerBlock = 64;

    private Problem(int rows, int classes, float[] input, long[] target, float[] weight)
    {
        Rows = rows;
        Classes = classes;
        Input = input;
        Target = target;
        Weight = weight;
    }

    public int Rows { get; }

    public int Classes { get; }

    /// <summary>Logits, pinned (allocated on the pinned object heap) so the copy floor and the kernels see stable memory.</summary>
    public float[] Input { get; }

    public long[] Target { get; }

    /// <summary>Class weights, or an empty array for "no weight".</summary>
    public float[] Weight { get; }

    public long Elements => (long)Rows * Classes;

    public double MegaBytes => Elements * sizeof(float) / 1e6;

    public static Problem Create(int rows, int classes, bool weighted, int seed = 20240601)
    {
        int elements = checked(rows * classes);
        var input = GC.AllocateUninitializedArray<float>(elements, pinned: true);
        int blocks = (rows + RowsPerBlock - 1) / RowsPerBlock;
        Parallel.For(0, blocks, block =>
        {
            var rng = new Random(seed ^ (block * 7919 + 1));
            int first = block * RowsPerBlock;
            int last = Math.Min(rows, first + RowsPerBlock);
            var span = input.AsSpan(first * classes, (last - first) * classes);
            // Sum of two uniforms: a triangular spread on [-4, 4], roughly the scale of trained logits.
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = (rng.NextSingle() + rng.NextSingle() - 1f) * 4f;
            }
        });

        var targetRng = new Random(seed);
        var target = new long[rows];
        for (int i = 0; i < rows; i++)
        {
            target[i] = i % IgnoreEvery == IgnoreEvery - 1 ? IgnoreIndex : targetRng.Next(classes);
        }

        var weight = weighted ? new float[classes] : [];
        for (int c = 0; c < weight.Length; c++)
        {
            weight[c] = 0.5f + targetRng.NextSingle();
        }

        return new Problem(rows, classes, input, target, weight);
    }

    /// <summary>
    /// A pinned buffer the size of <see cref="Input"/>, written once so its pages are faulted in before anything
    /// is timed (a fresh large allocation is untouched zero pages; the first write would pay the page faults).
    /// </summary>
    public float[] NewBuffer()
    {
        var buffer = GC.AllocateUninitializedArray<float>(checked((int)Elements), pinned: true);
        Parallel.For(0, Environment.ProcessorCount, k =>
        {
            var (start, length) = Chunk(buffer.Length, k, Environment.ProcessorCount);
            buffer.AsSpan(start, length).Clear();
        });
        return buffer;
    }

    /// <summary>The <paramref name="index"/>-th of <paramref name="count"/> contiguous, near-equal chunks of <paramref name="length"/>.</summary>
    public static (int Start, int Length) Chunk(int length, int index, int count)
    {
        int start = (int)((long)length * index / count);
        int end = (int)((long)length * (index + 1) / count);
        return (start, end - start);
    }
}
