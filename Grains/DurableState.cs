using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// The one way grains change persistent state: the new state is written before anything is acknowledged,
/// and a failed write leaves the previous state in memory. After a failure the ETag may be stale too, so
/// the grain deactivates and its next activation reads the truth from storage.
/// </summary>
internal static class DurableState
{
    public static async Task PersistAsync<T>(this IPersistentState<T> state, T next, IGrainBase grain, string what)
    {
        RefuseAfterDeadline(grain, what);
        var previous = state.State;
        state.State = next;
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception exception)
        {
            state.State = previous;
            throw Failed(exception, grain, what);
        }
    }

    public static async Task ClearAsync<T>(this IPersistentState<T> state, IGrainBase grain, string what)
    {
        RefuseAfterDeadline(grain, what);
        var previous = state.State;
        try
        {
            await state.ClearStateAsync();
        }
        catch (Exception exception)
        {
            state.State = previous;
            throw Failed(exception, grain, what);
        }
    }

    /// <summary>
    /// Nothing is written for a call whose caller has given up (<see cref="CallDeadline"/>): it was answered as failed,
    /// and a later write of the same client may have been acknowledged since. Nothing changed, so the activation stays.
    /// </summary>
    public static void RefuseAfterDeadline(IGrainBase grain, string what)
    {
        if (CallDeadline.Current is { } deadline
            && (grain.GrainContext.ActivationServices.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow() >= deadline)
        {
            throw new StorageUnavailableException($"The {what} was not stored: its call's deadline ({deadline:O}) had passed, so its caller has been answered.");
        }
    }

    /// <summary>A lost version race stays itself (409); anything else is an outage the caller may retry (503).</summary>
    private static Exception Failed(Exception exception, IGrainBase grain, string what)
    {
        grain.GrainContext.Deactivate(new DeactivationReason(DeactivationReasonCode.ApplicationError, $"The {what} could not be stored."));
        return exception is InconsistentStateException
            ? exception
            : new StorageUnavailableException($"The {what} could not be stored: {exception.GetType().Name}.");
    }
}
