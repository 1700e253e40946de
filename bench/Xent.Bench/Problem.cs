namespace Xent.Bench;

/// <summary>
/// One benchmark input: fp32 logits of shape <c>(N, C)</c> or <c>(N, C, d1, …, dK)</c> in row-major order, class-index
/// targets of shape <c>(N)</c> or <c>(N, d1, …, dK)</c>, optional class weights. Deterministic for a given seed (each
/// block of elements has its own generator, so the parallel fill does not depend on scheduling). Every
/// <see cref="IgnoreEvery"/>-th position targets <see cref="IgnoreIndex"/>, so the ignore path and the "mean over the
/// weight of kept positions" denominator are always exercised.
/// </summary>
/// <remarks>For a 16-bit run the logits and weights are rounded to that type here, so the fp32 array libtorch is given
/// and the narrow array Xent is given hold the same numbers.</remarks>
internal sealed class Problem
{
    public const long IgnoreIndex = -100;
    public const int IgnoreEvery = 31;

    private const int ElementsPerBlock = 1 << 18;

    private Problem(int batch, int classes, int[] spatial, Dtype dtype, float[] input, long[] target, float[] weight)
    {
        Batch = batch;
        Classes = classes;
        Spatial = spatial;
        Dtype = dtype;
        Input = input;
        Target = target;
        Weight = weight;
        InputShape = [batch, classes, .. spatial.Select(d => (nint)d)];
        TargetShape = [batch, .. spatial.Select(d => (nint)d)];
    }

    /// <summary>N, the batch (the rows of a 2-D input).</summary>
    public int Batch { get; }

    public int Classes { get; }

    /// <summary>d1…dK; empty for a 2-D input.</summary>
    public int[] Spatial { get; }

    public Dtype Dtype { get; }

    /// <summary>Logits as fp32 (already rounded to <see cref="Dtype"/>), pinned (allocated on the pinned object heap) so
    /// the floors and the kernels see stable memory.</summary>
    public float[] Input { get; }

    public long[] Target { get; }

    /// <summary>Class weights (rounded to <see cref="Dtype"/>), or an empty array for "no weight".</summary>
    public float[] Weight { get; }

    public nint[] InputShape { get; }

    public nint[] TargetShape { get; }

    public long Elements => Input.LongLength;

    /// <summary>The size of the logits in their own element type, in bytes.</summary>
    public long Bytes => Elements * Dtype.Size();

    public double MegaBytes => Bytes / 1e6;

    /// <summary>A 2-D fp32 problem: <c>(rows, classes)</c> logits, <c>(rows)</c> targets.</summary>
    public static Problem Create(int rows, int classes, bool weighted, int seed = 20240601) =>
        Create(rows, classes, [], weighted, Dtype.Float32, seed);

    public static Problem Create(int batch, int classes, int[] spatial, bool weighted, Dtype dtype, int seed = 20240601)
    {
        int positionsPerSample = spatial.Aggregate(1, (a, b) => checked(a * b));
        int positions = checked(batch * positionsPerSample);
        int elements = checked(positions * classes);
        var input = GC.AllocateUninitializedArray<float>(elements, pinned: true);
        int blocks = (elements + ElementsPerBlock - 1) / ElementsPerBlock;
        Parallel.For(0, blocks, block =>
        {
            var rng = new Random(seed ^ (block * 7919 + 1));
            var (start, length) = (block * ElementsPerBlock, Math.Min(ElementsPerBlock, elements - block * ElementsPerBlock));
            var span = input.AsSpan(start, length);
            // Sum of two uniforms: a triangular spread on [-4, 4], roughly the scale of trained logits.
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = dtype.Round((rng.NextSingle() + rng.NextSingle() - 1f) * 4f);
            }
        });

        var targetRng = new Random(seed);
        var target = new long[positions];
        for (int i = 0; i < positions; i++)
        {
            target[i] = i % IgnoreEvery == IgnoreEvery - 1 ? IgnoreIndex : targetRng.Next(classes);
        }

        var weight = weighted ? new float[classes] : [];
        for (int c = 0; c < weight.Length; c++)
        {
            weight[c] = dtype.Round(0.5f + targetRng.NextSingle());
        }

        return new Problem(batch, classes, spatial, dtype, input, target, weight);
    }

    /// <summary>A pinned fp32 buffer the size of <see cref="Input"/>, its pages faulted in (see <see cref="NewPinned{T}"/>).</summary>
    public float[] NewBuffer() => NewPinned<float>(Elements);

    /// <summary>
    /// A pinned buffer, written once so its pages are faulted in before anything is timed (a fresh large allocation is
    /// untouched zero pages; the first write would pay the page faults).
    /// </summary>
    public static T[] NewPinned<T>(long length)
        where T : unmanaged
    {
        var buffer = GC.AllocateUninitializedArray<T>(checked((int)length), pinned: true);
        Parallel.For(0, Environment.ProcessorCount, k =>
        {
            var (start, count) = Chunk(buffer.Length, k, Environment.ProcessorCount);
            buffer.AsSpan(start, count).Clear();
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
