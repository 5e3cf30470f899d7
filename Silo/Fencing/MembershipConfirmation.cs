using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using ShopAstro.Coherence;

namespace ShopAstro.Silo.Fencing;

/// <summary>
/// Feeds this silo's <see cref="MembershipFence"/>: reads its own row of the membership table every
/// <see cref="Period"/> (and at once when an answer waits), confirms the fence when the row names the silo alive
/// (from the read's start) and disowns it when the row says it was declared dead. Runs from the start of the runtime
/// until the silo stops; a read that fails confirms nothing, so answers stop a validity after the last good one.
/// </summary>
public sealed partial class MembershipConfirmation(
    MembershipFence fence, IMembershipTable table, ILocalSiloDetails silo, TimeProvider time, ILogger<MembershipConfirmation> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>How often the row is read: a few times per validity, so that a busy silo stays confirmed.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);

    private readonly SemaphoreSlim _wanted = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private bool _confirmedOnce;
    private bool _failing;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MembershipConfirmation), ServiceLifecycleStage.RuntimeInitialize + 1, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellation)
    {
        fence.ConfirmationWanted += Want;
        _loop = Task.Run(LoopAsync);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellation)
    {
        fence.ConfirmationWanted -= Want;
        await _stopping.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void Want()
    {
        try
        {
            _wanted.Release();
        }
        catch (SemaphoreFullException)
        {
            // A read is wanted already.
        }
    }

    private async Task LoopAsync()
    {
        while (!_stopping.IsCancellationRequested && !fence.Disowned)
        {
            await ConfirmOnceAsync();
            try
            {
                await _wanted.WaitAsync(Period, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One read of this silo's row: confirms, disowns, or (failed, missing) leaves the fence to run out.</summary>
    private async Task ConfirmOnceAsync()
    {
        var startedAt = time.GetTimestamp();
        try
        {
            var data = await table.ReadRowAsync(silo.SiloAddress, _stopping.Token).WaitAsync(fence.Validity, time, _stopping.Token);
            var entry = data.Members.Select(m => m.Item1).FirstOrDefault(m => m.SiloAddress.Equals(silo.SiloAddress));
            if (entry?.Status == SiloStatus.Dead)
            {
                LogDisowned(logger, silo.SiloAddress);
                fence.Disown();
            }
            else if (entry is not null)
            {
                fence.Confirmed(startedAt);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            if (_confirmedOnce && !_failing)
            {
                // Once per outage, not ten times a second.
                _failing = true;
                LogReadFailed(logger, exception);
            }
            else
            {
                // The table is set up while the runtime starts (the Redis provider answers with errors until then); the
                // silo takes no grain call before it has joined.
                LogNotYetReadable(logger, exception.Message);
            }

            return;
        }

        _confirmedOnce |= fence.IsFresh;
        if (_failing && fence.IsFresh)
        {
            _failing = false;
            LogConfirmedAgain(logger);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The membership table names this silo ({Silo}) dead: its activations answer nothing from now on")]
    private static partial void LogDisowned(ILogger logger, SiloAddress silo);

    [LoggerMessage(Level = LogLevel.Debug, Message = "This silo's membership row is not readable yet: {Reason}")]
    private static partial void LogNotYetReadable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "This silo's membership row is readable again: its activations answer again")]
    private static partial void LogConfirmedAgain(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This silo's membership row could not be read; its activations stop answering once the last confirmation runs out")]
    private static partial void LogReadFailed(ILogger logger, Exception exception);
}
