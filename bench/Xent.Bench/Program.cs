using BenchmarkDotNet.Running;
using Xent.Bench;
using Xent.Bench.Agree;
using Xent.Bench.Compare;

// compare [--quick] [--filter TEXT]   side-by-side table: floors, Xent, libtorch (TorchSharp), goals, agreement
// plot [--quick] [--out PATH]         throughput against size at C = 32000, printed and drawn to a PNG
// floor                               copy bandwidth alone, min / median / max
// pattern [--shape NxCxD] [--bytes B] [--exps]  the K-dim kernel's memory traffic (and its exps) against the copy
// agree [--seed S] [--cases N]        randomized differential check of Xent's losses and gradients against libtorch
// ab --switch NAME --case KIND:SHAPE  two versions of a kernel alternated call by call in one process (a temporary switch)
// run --case KIND:SHAPE               one case called again and again, for a profiler (bench/profile.sh)
// bdn [BDN args]      BenchmarkDotNet suite (BenchmarkSwitcher over the remaining arguments)
return args switch
{
    ["compare", .. var rest] => CompareCommand.Run(rest),
    ["plot", .. var rest] => PlotCommand.Run(rest),
    ["bdn", .. var rest] => RunBenchmarkDotNet(rest),
    ["floor"] => FloorCommand.Run(),
    ["pattern", .. var rest] => PatternCommand.Run(rest),
    ["agree", .. var rest] => AgreeCommand.Run(rest),
    ["ab", .. var rest] => AbCommand.Run(rest),
    ["run", .. var rest] => AbCommand.RunCase(rest),
    _ => Usage(),
};

static int RunBenchmarkDotNet(string[] args)
{
    Type[] suites = [typeof(CrossEntropyBenchmarks), typeof(NllBenchmarks), typeof(KDimBenchmarks), typeof(LowPrecisionBenchmarks)];
    BenchmarkSwitcher.FromTypes(suites).Run(args, BenchConfig.Create());
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("""
        usage: dotnet run -c Release --project bench/Xent.Bench -- compare [--quick] [--filter TEXT]
               dotnet run -c Release --project bench/Xent.Bench -- plot [--quick] [--out bench/throughput.png]
               dotnet run -c Release --project bench/Xent.Bench -- floor
               dotnet run -c Release --project bench/Xent.Bench -- pattern [--shape NxCxD] [--bytes 2|4] [--exps]
               dotnet run -c Release --project bench/Xent.Bench -- agree [--seed S] [--cases N] [--only K] [--verbose] [--minimize]
               dotnet run -c Release --project bench/Xent.Bench -- ab --switch NAME --case KIND:SHAPE [--threads T] [--pairs P] [--forward]
               dotnet run -c Release --project bench/Xent.Bench -- run --case KIND:SHAPE [--threads T] [--calls K] [--forward]
               dotnet run -c Release --project bench/Xent.Bench -- bdn [BenchmarkDotNet arguments, e.g. --filter '*']
        Before the first run on Debian 12: bench/fix-torchsharp.sh (see bench/README.md).
        """);
    return 2;
}
