using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xent.Kernels;

namespace Xent.Linear;

/// <summary>The fused linear cross-entropy: validates everything first, then walks the non-ignored rows in chunks,
/// computing each chunk's logits block, turning it into its gradient in place and multiplying that back into the
/// hidden-state and weight gradients — the full N × V logits never exist.</summary>
/// <remarks>
/// Per chunk of c rows (H_c, c × h, gathered and widened to float):
/// 1. L = H_c·Wᵀ (+ bias) into a c × V scratch block — GEMM with W read transposed by the packing.
/// 2. <see cref="LinearRows"/> turns each row of L into its loss and, in place, G = ∂loss/∂L.
/// 3. gradBias += Σ_rows G; gradH[chunk] = G·W; gradW += Gᵀ·H_c (float32, in chunk order).
/// Extra memory is the c × V block plus O(c·h + V) — not O(N·V). Every reduction has a fixed order (rows in order
/// within a chunk, chunks in order, kc slices in order inside the GEMM), so results are bit-identical for any
/// <see cref="Parallelism.MaxDegreeOfParallelism"/>.
/// </remarks>
internal static unsafe class LinearCrossEntropyDriver
{
    /// <summary>Most rows per chunk. Each chunk packs W twice and reads and writes gradW once (about 4·V·h floats of
    /// memory traffic) for its 6·c·V·h FLOP, so small chunks are memory-bound. Measured at N 2048, h 512, V 32000
    /// (bench/Xent.LinearBench lce --chunk, GFLOP per CPU-second, fwd+bwd): 64 rows 73, 128 rows 89, 256 rows 94;
    /// beyond 256 the block (128 MB at V = 128256) buys a few percent for much more memory.</summary>
    internal const int MaxChunkRows = 256;

    /// <summary>Fewest rows per chunk by default, whatever 1/32 of N is: below this the GEMMs' packing dominates.</summary>
    internal const int MinChunkRows = 16;

    /// <summary>Columns per gradient-filtering block: 256 floats (1 KiB) per row, a multiple of every GEMM tile.</summary>
    internal const int FilterBlock = 256;

    /// <summary>2⁻²⁴: a probability below this is lost when added to one in float.</summary>
    private const float FilterThreshold = 1f / (1 << 24);

    /// <summary>Every output needs memory of its own (<see cref="LossDriver.CheckNoOverlap"/>): the outputs are
    /// cleared before the inputs are read, so a gradient over its own hidden states would have zeroed them.</summary>
    private static void CheckNoOverlap<T, TTarget>(ReadOnlySpan<T> hidden, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias,
        ReadOnlySpan<TTarget> target, scoped in LinearCrossEntropyOutputs outputs, LinearCrossEntropyOptions options)
        where T : unmanaged
        where TTarget : unmanaged
    {
        fixed (T* pHidden = hidden, pWeight = weight, pBias = bias)
        fixed (TTarget* pTarget = target)
        fixed (float* pClassWeight = options.ClassWeight.Span)
        fixed (float* gradHidden = outputs.GradHidden, gradWeight = outputs.GradWeight, gradBias = outputs.GradBias)
        fixed (float* lse = outputs.Lse, loss = outputs.Loss)
        {
            LossDriver.CheckNoOverlap([
                LossDriver.Buffer.Of(pHidden, hidden.Length, "hidden", false),
                LossDriver.Buffer.Of(pWeight, weight.Length, "weight", false),
                LossDriver.Buffer.Of(pBias, bias.Length, "bias", false),
                LossDriver.Buffer.Of(pTarget, target.Length, "target", false),
                LossDriver.Buffer.Of(pClassWeight, options.ClassWeight.Length, "classWeight", false),
                LossDriver.Buffer.Of(gradHidden, outputs.GradHidden.Length, "gradHidden", true),
                LossDriver.Buffer.Of(gradWeight, outputs.GradWeight.Length, "gradWeight", true),
                LossDriver.Buffer.Of(gradBias, outputs.GradBias.Length, "gradBias", true),
                LossDriver.Buffer.Of(lse, outputs.Lse.Length, "lse", true),
                LossDriver.Buffer.Of(loss, outputs.Loss.Length, "loss", true)]);
        }
    }

    public static LinearCrossEntropyResult Run<T, TTarget>(ReadOnlySpan<T> hidden, ReadOnlySpan<T> weight,
        ReadOnlySpan<T> bias, int hiddenSize, ReadOnlySpan<TTarget> target, scoped in LinearCrossEntropyOutputs outputs,
        LinearCrossEntropyOptions options)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        (int n, int v) = Validate(hidden.Length, weight.Length, bias.Length, hiddenSize, target.Length, outputs, options);
        CheckNoOverlap(hidden, weight, bias, target, outputs, options);
        int h = hiddenSize;
        var plan = new Plan { N = n, V = v, H = h };
        using MemoryHandle classWeightPin = options.ClassWeight.Pin();
        float* classWeight = options.ClassWeight.IsEmpty ? null : (float*)classWeightPin.Pointer;
        int* rows = null, targets = null;
        try
        {
            rows = (int*)NativeMemory.Alloc((nuint)Math.Max(1, n), sizeof(int));
            targets = (int*)NativeMemory.Alloc((nuint)Math.Max(1, n), sizeof(int));
            fixed (TTarget* pTarget = target)
            {
                // The pre-pass: every target is checked (ignore_index first, then bounds, as LossNLL.cpp) before any
                // output is touched; the non-ignored rows are listed so the chunks skip the ignored ones entirely.
                (plan.Count, plan.TotalWeight) = ActiveRows(pTarget, n, v, options, classWeight, rows, targets);
            }

            fixed (T* pHidden = hidden, pWeight = weight, pBias = bias)
            fixed (float* gradHidden = outputs.GradHidden, gradWeight = outputs.GradWeight, gradBias = outputs.GradBias)
            fixed (float* lse = outputs.Lse, loss = outputs.Loss)
            {
                outputs.GradHidden.Clear();
                outputs.GradWeight.Clear();
                outputs.GradBias.Clear();
                outputs.Lse.Fill(float.NaN);
                outputs.Loss.Clear();
                var io = new Io<T>
                {
                    Hidden = pHidden, Weight = pWeight, Bias = bias.IsEmpty ? null : pBias, ClassWeight = classWeight,
                    Rows = rows, Targets = targets, GradHidden = outputs.GradHidden.IsEmpty ? null : gradHidden,
                    GradWeight = outputs.GradWeight.IsEmpty ? null : gradWeight,
                    GradBias = outputs.GradBias.IsEmpty ? null : gradBias,
                    Lse = outputs.Lse.IsEmpty ? null : lse, Loss = outputs.Loss.IsEmpty ? null : loss,
                };
                return Chunks(plan, io, options);
            }
        }
        finally
        {
            NativeMemory.Free(rows);
            NativeMemory.Free(targets);
        }
    }

    /// <summary>Argument checks in a fixed order, each with the parameter's name; nothing is written before they pass.</summary>
    private static (int N, int V) Validate(int hiddenLength, int weightLength, int biasLength, int hiddenSize,
        int targetLength, scoped in LinearCrossEntropyOutputs outputs, LinearCrossEntropyOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        if (hiddenLength % hiddenSize != 0)
        {
            ThrowHelper.ThrowArgument($"The hidden states' length {hiddenLength} is not a multiple of hiddenSize ({hiddenSize}).", "hidden");
        }

        if (weightLength == 0 || weightLength % hiddenSize != 0)
        {
            ThrowHelper.ThrowArgument($"The weight's length {weightLength} is not a positive multiple of hiddenSize ({hiddenSize}); expected (vocab, hiddenSize) row-major, as nn.Linear's weight.", "weight");
        }

        int n = hiddenLength / hiddenSize;
        int v = weightLength / hiddenSize;
        if (targetLength != n)
        {
            ThrowHelper.ThrowArgument($"Expected input batch_size ({n}) to match target batch_size ({targetLength}).", "target");
        }

        if (biasLength != 0 && biasLength != v)
        {
            ThrowHelper.ThrowArgument($"'bias' has {biasLength} elements but the weight has {v} rows.", "bias");
        }

        LossDriver.CheckReduction(options.Reduction);
        if (options.Reduction == Reduction.None)
        {
            ThrowHelper.ThrowArgument("Reduction.None gives one loss per row; pass Mean or Sum and read the per-row losses from LinearCrossEntropyOutputs.Loss.", "reduction");
        }

        LossDriver.CheckSmoothing(options.LabelSmoothing);
        if (!(options.ZLossScale >= 0f && float.IsFinite(options.ZLossScale)))
        {
            throw new ArgumentOutOfRangeException("zLossScale", $"The z-loss scale must be finite and non-negative. Got: {options.ZLossScale}");
        }

        if (!(options.SoftCap >= 0f && float.IsFinite(options.SoftCap)))
        {
            throw new ArgumentOutOfRangeException("softCap", $"The logit soft cap must be finite and non-negative (0 for none). Got: {options.SoftCap}");
        }

        if (options.SequenceLength < 0)
        {
            throw new ArgumentOutOfRangeException("sequenceLength", $"The sequence length must be non-negative (0 for one sequence). Got: {options.SequenceLength}");
        }

        if (options.Shift && options.SequenceLength > 0 && n % options.SequenceLength != 0)
        {
            ThrowHelper.ThrowArgument($"{n} rows are not a whole number of sequences of length {options.SequenceLength}.", "sequenceLength");
        }

        if (options.ChunkRows < 0)
        {
            throw new ArgumentOutOfRangeException("chunkRows", $"The chunk rows must be non-negative (0 to choose). Got: {options.ChunkRows}");
        }

        if (!options.ClassWeight.IsEmpty && options.ClassWeight.Length != v)
        {
            ThrowHelper.ThrowArgument($"weight tensor should be defined either for all {v} classes or no classes but got weight tensor of shape: [{options.ClassWeight.Length}]", "classWeight");
        }

        CheckOutput(outputs.GradHidden.Length, (long)n * hiddenSize, "gradHidden", "the hidden states");
        CheckOutput(outputs.GradWeight.Length, (long)v * hiddenSize, "gradWeight", "the weight");
        CheckOutput(outputs.GradBias.Length, v, "gradBias", "the vocabulary");
        CheckOutput(outputs.Lse.Length, n, "lse", "the rows");
        CheckOutput(outputs.Loss.Length, n, "loss", "the rows");
        return (n, v);
    }

    private static void CheckOutput(int length, long expected, string name, string what)
    {
        if (length != 0 && length != expected)
        {
            ThrowHelper.ThrowArgument($"'{name}' has {length} elements but {what} need {expected}.", name);
        }
    }

    /// <summary>Lists the rows that have a non-ignored target (in order) with their targets, and sums the mean's
    /// denominator in double as LossDriver does.</summary>
    private static (int Count, double TotalWeight) ActiveRows<TTarget>(TTarget* target, int n, int v,
        LinearCrossEntropyOptions options, float* classWeight, int* rows, int* targets)
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        int count = 0;
        double total = 0;
        int sequence = options.SequenceLength > 0 ? options.SequenceLength : n;
        for (int r = 0; r < n; r++)
        {
            long t;
            if (options.Shift)
            {
                // Row r predicts token r + 1 of its sequence; the last row of a sequence has nothing to predict.
                if ((r + 1) % sequence == 0)
                {
                    continue;
                }

                t = long.CreateTruncating(target[r + 1]);
            }
            else
            {
                t = long.CreateTruncating(target[r]);
            }

            if (t == options.IgnoreIndex)
            {
                continue;
            }

            if ((ulong)t >= (ulong)v)
            {
                ThrowHelper.ThrowTargetOutOfBounds(t);
            }

            rows[count] = r;
            targets[count] = (int)t;
            count++;
            total += classWeight == null ? 1.0 : classWeight[t];
        }

        return (count, total);
    }

    private struct Plan
    {
        public int N, V, H, Count;
        public double TotalWeight;
    }

    private struct Io<T>
        where T : unmanaged
    {
        public T* Hidden, Weight, Bias;
        public float* ClassWeight;
        public int* Rows, Targets;
        public float* GradHidden, GradWeight, GradBias, Lse, Loss;
    }

    /// <summary>The rows per chunk: the logits block at most 1/32 of the logits, so with the packing buffers and the
    /// gathered rows the call's extra peak memory stays under the 1/16 (measured: a 1/16 block gave 8.5% of the
    /// logits at N = 2048, V = 32000); at most <see cref="MaxChunkRows"/>, at least <see cref="MinChunkRows"/> (or all
    /// rows when fewer). Halving the block from 128 to 64 rows costs about 18% in GFLOP per CPU-second.</summary>
    internal static int ChunkRows(int n, int count, int requested)
    {
        int rows = requested > 0 ? requested : Math.Clamp((n + 31) / 32, MinChunkRows, MaxChunkRows);
        return Math.Max(1, Math.Min(rows, count));
    }

    private static LinearCrossEntropyResult Chunks<T>(in Plan plan, in Io<T> io, LinearCrossEntropyOptions options)
        where T : unmanaged
    {
        int n = plan.N, v = plan.V, h = plan.H, count = plan.Count;
        bool gradients = io.GradHidden != null || io.GradWeight != null || io.GradBias != null;
        int chunk = ChunkRows(n, count, options.ChunkRows);
        bool mean = options.Reduction == Reduction.Mean;
        float weightSum = v;
        if (io.ClassWeight != null)
        {
            // In double, rounded once, as the loss functions take it: W scales every smoothed gradient, and summed in
            // float over 200000 classes it came out 5e-6 off.
            double sum = 0;
            for (int c = 0; c < v; c++) sum += io.ClassWeight[c];
            weightSum = (float)sum;
        }

        using var memory = new Scratch();
        float* logits = memory.Floats((long)chunk * v);
        float* hc = memory.Floats((long)chunk * h);
        float* gh = io.GradHidden != null ? memory.Floats((long)chunk * h) : null;
        float* amplitude = memory.Floats(chunk);
        float* bias = null;
        if (io.Bias != null)
        {
            bias = memory.Floats(v);
            Elements.Widen(new ReadOnlySpan<T>(io.Bias, v), new Span<float>(bias, v));
        }

        double* ce = (double*)memory.Bytes(Math.Max(1, count) * (long)sizeof(double));
        double* zl = (double*)memory.Bytes(Math.Max(1, count) * (long)sizeof(double));
        byte* correct = (byte*)memory.Bytes(Math.Max(1, count));
        int blocks = (v + FilterBlock - 1) / FilterBlock;
        byte* keep = (byte*)memory.Bytes(blocks);
        int* runs = (int*)memory.Bytes(2L * blocks * sizeof(int));
        using var workspace = new GemmWorkspace();
        GemmIsa isa = options.Isa ?? GemmMicroKernels.Best;

        for (int c0 = 0; c0 < count; c0 += chunk)
        {
            int rowsInChunk = Math.Min(chunk, count - c0);
            int* chunkRows = io.Rows + c0;

            // 1. Gather the chunk's hidden states (widened), then its logits block.
            for (int j = 0; j < rowsInChunk; j++)
            {
                Elements.Widen(new ReadOnlySpan<T>(io.Hidden + (nint)chunkRows[j] * h, h), new Span<float>(hc + (nint)j * h, h));
            }

            Gemm.Multiply(rowsInChunk, v, h, hc, h, false, io.Weight, h, true, logits, v, false, workspace, isa: isa);

            // 2. Losses, and the logits' gradient in place.
            var rowKernel = new LinearRows
            {
                Logits = logits, Vocab = v, Targets = io.Targets + c0, Rows = chunkRows, Bias = bias,
                ClassWeight = io.ClassWeight, WeightSum = weightSum,
                Smoothing = LossDriver.EffectiveSmoothing(options.LabelSmoothing),
                ZLossScale = options.ZLossScale, SoftCap = options.SoftCap, WriteGradient = gradients,
                GradScale = mean ? 1f / (float)plan.TotalWeight : 1f,
                ZGradScale = 2f * options.ZLossScale * (mean ? 1f / count : 1f),
                CrossEntropy = ce + c0, ZLoss = zl + c0, Correct = correct + c0,
                RowAmplitude = amplitude, LseOut = io.Lse, LossOut = io.Loss, Isa = isa,
            };
            WorkerParallel.For(rowsInChunk, WorkerParallel.Workers((long)rowsInChunk * v * 8), ref rowKernel);
            if (!gradients)
            {
                continue;
            }

            // 3. The vocabulary runs whose gradient is kept: all of it, unless filtering drops negligible blocks.
            int runCount = 1;
            runs[0] = 0;
            runs[1] = v;
            if (options.FilterGradients)
            {
                var filter = new FilterBlocks { Gradient = logits, Vocab = v, Rows = rowsInChunk, Amplitude = amplitude, Keep = keep };
                WorkerParallel.For(blocks, WorkerParallel.Workers((long)rowsInChunk * v), ref filter);
                runCount = Runs(keep, blocks, v, runs);
            }

            // 4. gradBias += column sums of G, rows in order.
            if (io.GradBias != null)
            {
                var sums = new ColumnSums { Gradient = logits, Vocab = v, Rows = rowsInChunk, Keep = options.FilterGradients ? keep : null, Sum = io.GradBias };
                WorkerParallel.For(blocks, WorkerParallel.Workers((long)rowsInChunk * v), ref sums);
            }

            // 5. gradH[chunk] = G·W, run by run (the runs partition the k dimension).
            if (io.GradHidden != null)
            {
                if (runCount == 0)
                {
                    new Span<float>(gh, rowsInChunk * h).Clear();
                }

                for (int r = 0; r < runCount; r++)
                {
                    int v0 = runs[2 * r], v1 = runs[2 * r + 1];
                    Gemm.Multiply(rowsInChunk, h, v1 - v0, logits + v0, v, false, io.Weight + (nint)v0 * h, h, false,
                        gh, h, accumulate: r > 0, workspace, isa: isa);
                }

                for (int j = 0; j < rowsInChunk; j++)
                {
                    new ReadOnlySpan<float>(gh + (nint)j * h, h).CopyTo(new Span<float>(io.GradHidden + (nint)chunkRows[j] * h, h));
                }
            }

            // 6. gradW += Gᵀ·H_c, run by run (the runs partition gradW's rows).
            if (io.GradWeight != null)
            {
                for (int r = 0; r < runCount; r++)
                {
                    int v0 = runs[2 * r], v1 = runs[2 * r + 1];
                    Gemm.Multiply(v1 - v0, h, rowsInChunk, logits + v0, v, true, hc, h, false,
                        io.GradWeight + (nint)v0 * h, h, accumulate: true, workspace, isa: isa);
                }
            }
        }

        return Reduce(plan, options, ce, zl, correct);
    }

    /// <summary>The fixed-order reduction of the per-row partials, in double.</summary>
    private static LinearCrossEntropyResult Reduce(in Plan plan, LinearCrossEntropyOptions options, double* ce, double* zl, byte* correct)
    {
        int count = plan.Count;
        double ceSum = PairwiseSum.Sum(new ReadOnlySpan<double>(ce, count));
        double zSum = PairwiseSum.Sum(new ReadOnlySpan<double>(zl, count));
        long hits = 0;
        for (int j = 0; j < count; j++) hits += correct[j];

        // Mean over zero total weight is 0/0 = NaN, as in PyTorch; a sum of nothing is 0.
        bool mean = options.Reduction == Reduction.Mean;
        double ceReduced = mean ? ceSum / plan.TotalWeight : ceSum;
        double zReduced = options.ZLossScale == 0f ? 0 : mean ? zSum / count : zSum;
        return new LinearCrossEntropyResult((float)(ceReduced + zReduced), (float)zReduced,
            count == 0 ? float.NaN : (float)((double)hits / count), plan.TotalWeight, count);
    }

    /// <summary>Merges consecutive kept blocks into [v0, v1) runs; returns how many.</summary>
    private static int Runs(byte* keep, int blocks, int v, int* runs)
    {
        int count = 0;
        for (int b = 0; b < blocks; b++)
        {
            if (keep[b] == 0)
            {
                continue;
            }

            int v0 = b * FilterBlock;
            int v1 = Math.Min(v, (b + 1) * FilterBlock);
            if (count > 0 && runs[2 * count - 1] == v0)
            {
                runs[2 * count - 1] = v1;
            }
            else
            {
                runs[2 * count] = v0;
                runs[2 * count + 1] = v1;
                count++;
            }
        }

        return count;
    }

    /// <summary>Marks a vocabulary block kept when some row's gradient there reaches 2⁻²⁴ of that row's amplitude
    /// |A| (the gradient is p·A plus the smoothing and target terms, so a kept-out block has every p below 2⁻²⁴ and
    /// no term of smoothing or target large enough to matter).</summary>
    private struct FilterBlocks : IWorkerAction
    {
        public float* Gradient;
        public int Vocab, Rows;
        public float* Amplitude;
        public byte* Keep;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Execute(int worker, int start, int end)
        {
            for (int b = start; b < end; b++)
            {
                int v0 = b * FilterBlock;
                int width = Math.Min(Vocab, v0 + FilterBlock) - v0;
                bool keep = false;
                for (int j = 0; j < Rows && !keep; j++)
                {
                    keep = Reaches(Gradient + (nint)j * Vocab + v0, width, FilterThreshold * Amplitude[j]);
                }

                Keep[b] = keep ? (byte)1 : (byte)0;
            }
        }

        /// <summary>Whether some |g| ≥ <paramref name="threshold"/> or some g is NaN.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool Reaches(float* g, int width, float threshold)
        {
            int i = 0;
            var t = new Vector<float>(threshold);
            for (; i <= width - Vector<float>.Count; i += Vector<float>.Count)
            {
                var x = Vector.Load(g + i);
                if (Vector.GreaterThanOrEqualAny(Vector.Abs(x), t) || !Vector.EqualsAll(x, x))
                {
                    return true;
                }
            }

            for (; i < width; i++)
            {
                if (!(MathF.Abs(g[i]) < threshold))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Sum[c] += Σ_j G[j, c] over the kept blocks, rows in order (deterministic).</summary>
    private struct ColumnSums : IWorkerAction
    {
        public float* Gradient;
        public int Vocab, Rows;
        public byte* Keep;
        public float* Sum;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Execute(int worker, int start, int end)
        {
            for (int b = start; b < end; b++)
            {
                if (Keep != null && Keep[b] == 0)
                {
                    continue;
                }

                int v0 = b * FilterBlock;
                int width = Math.Min(Vocab, v0 + FilterBlock) - v0;
                float* sum = Sum + v0;
                for (int j = 0; j < Rows; j++)
                {
                    float* g = Gradient + (nint)j * Vocab + v0;
                    int i = 0;
                    for (; i <= width - Vector<float>.Count; i += Vector<float>.Count)
                    {
                        Vector.Store(Vector.Load(sum + i) + Vector.Load(g + i), sum + i);
                    }

                    for (; i < width; i++) sum[i] += g[i];
                }
            }
        }
    }

    /// <summary>The call's native scratch: 64-byte aligned, freed together at the end, invisible to the GC.</summary>
    private sealed class Scratch : IDisposable
    {
        private readonly List<nint> _blocks = [];

        public float* Floats(long count) => (float*)Bytes(count * sizeof(float));

        public void* Bytes(long count)
        {
            void* p = NativeMemory.AlignedAlloc((nuint)Math.Max(1, count), 64);
            _blocks.Add((nint)p);
            return p;
        }

        public void Dispose()
        {
            foreach (nint p in _blocks)
            {
                NativeMemory.AlignedFree((void*)p);
            }

            _blocks.Clear();
        }
    }
}
