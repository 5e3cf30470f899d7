namespace ShopAstro.Grains;

/// <summary>
/// Wakes a store grain when its next scheduled policy version takes effect: a grain timer while the grain is active
/// (on time), and a reminder (durable: also when no silo had the store active at that instant, or after a restart,
/// and again every <c>retry</c> until the version is written as in force).
/// </summary>
internal sealed class PolicyEffectiveAlarm(IGrainBase grain, TimeProvider time, TimeSpan retry, Func<Task> wake)
{
    public const string ReminderName = "policy-effective";

    // Timers take at most about 49 days: a later version is looked at again then.
    private static readonly TimeSpan MaxTimerDue = TimeSpan.FromDays(30);

    private IGrainTimer? _timer;

    /// <summary>The timer for the next scheduled version of <paramref name="stored"/>, if any (on activation).</summary>
    public void Arm(StoreState stored)
    {
        _timer?.Dispose();
        _timer = null;
        if (NextDue(stored) is { } due)
        {
            _timer = grain.RegisterGrainTimer(wake, due > MaxTimerDue ? MaxTimerDue : due, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The timer and the reminder, after the schedule was written.</summary>
    public async Task SetAsync(StoreState stored)
    {
        Arm(stored);
        if (NextDue(stored) is { } due)
        {
            await grain.RegisterOrUpdateReminder(ReminderName, due, retry);
        }
        else if (await grain.GetReminder(ReminderName) is { } reminder)
        {
            await grain.UnregisterReminder(reminder);
        }
    }

    private TimeSpan? NextDue(StoreState stored)
    {
        if (stored.Scheduled.IsEmpty)
        {
            return null;
        }

        var due = stored.Scheduled[0].InForceFrom - time.GetUtcNow();
        return due > TimeSpan.Zero ? due : TimeSpan.Zero;
    }
}
