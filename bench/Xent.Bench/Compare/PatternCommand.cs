using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Xent.Kernels;

namespace Xent.Bench.Compare;

/// <summary>
/// <c>pattern</c>: the memory floor of the (N, C, D) kernel's access pattern, against the copy floor. With every core,
/// in the kernel's tiles (about <c>SoftmaxRows.TileElements</c> elements, whole lines of positions), each tile's C class rows are read 32
/// positions at a time across the classes, prefetched as the kernel prefetches them, widened and kept in a scratch,
/// then each class's run is streamed out with non-temporal stores: the kernel's memory traffic with no arithmetic. Where
/// this alone takes more than a goal's multiple of the copy, no kernel that reads and writes in this order can meet it.
/// </summary>
/// <remarks>AVX-512 only, as the kernel it imitates. Floats and 16-bit elements (both 16-bit types move alike).</remarks>
internal static unsafe class PatternCommand
{
    private const int Rounds = 15;

    public static int Run(string[] args)
    {
        long n = 8, c = 21, d = 512 * 512;
        int size = 2;
        bool exps = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--shape" && i + 1 < args.Length && args[++i].Split('x') is [var a, var b, var e]
                && long.TryParse(a, out n) && long.TryParse(b, out c) && long.TryParse(e, out d) && n > 0 && c > 0 && d >= 32 && d % 32 == 0)
            {
                continue;
            }

            if (args[i] == "--bytes" && i + 1 < args.Length && int.TryParse(args[++i], out size) && size is 2 or 4)
            {
                continue;
            }

            if (args[i] == "--exps")
            {
                exps = true;
                continue;
            }

            Console.Error.WriteLine($"pattern: bad argument '{args[i]}' (expected --shape NxCxD with D a multiple of 32, --bytes 2|4, --exps)");
            return 2;
        }

        if (!Avx512F.IsSupported)
        {
            Console.Error.WriteLine("pattern: needs AVX-512 (the kernel it imitates)");
            return 2;
        }

        long bytes = n * c * d * size;
        int workers = Environment.ProcessorCount;
        // Line-aligned, as the kernel aligns its streamed runs.
        byte* input = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64), output = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        NativeMemory.Fill(input, (nuint)bytes, 0x3F);
        NativeMemory.Fill(output, (nuint)bytes, 1);
        nint src = (nint)input, dst = (nint)output;
        // As SoftmaxRows.Plan cuts tiles (whole lines of 32 positions here, for the streamed stores).
        long width = Math.Max(32, Math.Min(SoftmaxRows<float, float, long>.TileElements / c, d) & ~31L);
        var rounds = MedianTimer.Interleaved(
        [
            () => CopyFloor.Copy(src, dst, bytes),
            () => Pattern(src, dst, n, c, d, size, width, workers, exps),
        ], TimeSpan.FromSeconds(2), minRounds: Rounds, maxRounds: Rounds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"({n}, {c}, {d}) of {size}-byte elements, {bytes / 1e6:0.0} MB, tiles of {width} positions, {workers} threads, {Rounds} rounds{(exps ? ", with an exp per logit" : "")}: " +
            $"copy {rounds.Median(0):0.00} ms, pattern {rounds.Median(1):0.00} ms, pattern/copy {rounds.MedianRatio(1, 0):0.00} (median per round)"));
        NativeMemory.AlignedFree(input);
        NativeMemory.AlignedFree(output);
        return 0;
    }

    /// <remarks>D is a multiple of 32, so every tile's runs start on a line, as the streamed stores need; the last tile of
    /// a row may be narrower.</remarks>
    private static void Pattern(nint src, nint dst, long n, long c, long d, int size, long width, int workers, bool exps)
    {
        long tilesPerSample = (d + width - 1) / width, tiles = n * tilesPerSample;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, k =>
        {
            float* scratch = (float*)NativeMemory.AlignedAlloc((nuint)(c * width * sizeof(float)), 64);
            try
            {
                for (long t = tiles * k / workers; t < tiles * (k + 1) / workers; t++)
                {
                    long sample = t / tilesPerSample, j0 = t % tilesPerSample * width;
                    int lanes = (int)Math.Min(width, d - j0) & ~31;
                    long offset = (sample * c * d + j0) * size;
                    switch (size, exps)
                    {
                        case (2, false):
                            Tile<ushort, Clear>((ushort*)(src + (nint)offset), (ushort*)(dst + (nint)offset), scratch, (int)c, d, lanes);
                            break;
                        case (2, true):
                            Tile<ushort, Set>((ushort*)(src + (nint)offset), (ushort*)(dst + (nint)offset), scratch, (int)c, d, lanes);
                            break;
                        case (_, false):
                            Tile<float, Clear>((float*)(src + (nint)offset), (float*)(dst + (nint)offset), scratch, (int)c, d, lanes);
                            break;
                        default:
                            Tile<float, Set>((float*)(src + (nint)offset), (float*)(dst + (nint)offset), scratch, (int)c, d, lanes);
                            break;
                    }
                }
            }
            finally
            {
                NativeMemory.AlignedFree(scratch);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<T, TExps>(T* src, T* dst, float* scratch, int c, long d, int lanes)
        where T : unmanaged
        where TExps : struct, IFlag
    {
        for (int g = 0; g < lanes; g += 32)
        {
            T* row = src + g;
            float* ek = scratch + g;
            for (int k = 0; k < c; k++, row += d, ek += lanes)
            {
                Sse.Prefetch0(row + 128);
                Sse.Prefetch2(row + 1024);
                Vector512<float> a, b;
                if (sizeof(T) == sizeof(float))
                {
                    Sse.Prefetch0(row + 144);
                    Sse.Prefetch2(row + 1040);
                    (a, b) = (Vector512.Load((float*)row), Vector512.Load((float*)row + 16));
                }
                else
                {
                    Vector512<ushort> line = Vector512.Load((ushort*)row);
                    (a, b) = ((Vector512.WidenLower(line).AsInt32() << 16).AsSingle(), (Vector512.WidenUpper(line).AsInt32() << 16).AsSingle());
                }

                if (TExps.On)
                {
                    // The kernels' kept exp (of x − 1: at most 0 for the table's logits, as x − max is).
                    a = FloatRows.ExpNonPositive(a - Vector512<float>.One);
                    b = FloatRows.ExpNonPositive(b - Vector512<float>.One);
                }

                a.Store(ek);
                b.Store(ek + 16);
            }
        }

        for (int k = 0; k < c; k++)
        {
            T* run = dst + k * d;
            float* ek = scratch + k * lanes;
            for (int g = 0; g < lanes; g += 32)
            {
                if (sizeof(T) == sizeof(float))
                {
                    Avx512F.StoreAlignedNonTemporal((float*)run + g, Vector512.Load(ek + g));
                    Avx512F.StoreAlignedNonTemporal((float*)run + g + 16, Vector512.Load(ek + g + 16));
                }
                else
                {
                    // The floats' high halves, in order: one vpermt2w, as the kernel narrows.
                    Avx512F.StoreAlignedNonTemporal((ushort*)run + g, Avx512BW.PermuteVar32x16x2(Vector512.Load(ek + g).AsUInt16(),
                        Vector512.Create((ushort)1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63),
                        Vector512.Load(ek + g + 16).AsUInt16()));
                }
            }
        }
    }
}
