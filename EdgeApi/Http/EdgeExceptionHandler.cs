using System.Data.Common;
using Microsoft.AspNetCore.Diagnostics;
using Orleans.Runtime;
using Orleans.Storage;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Http;

/// <summary>
/// Unhandled exceptions become problem details without a stack trace: a storage or cluster outage is a
/// 503 with Retry-After, a lost optimistic-concurrency race a 409, anything else a 500.
/// </summary>
internal sealed partial class EdgeExceptionHandler(ILogger<EdgeExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, code, title) = Classify(exception);
        if (status >= 500)
        {
            LogFailure(exception, context.Request.Method, context.GetEndpoint()?.DisplayName);
        }

        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = "1";
        }

        await EdgeProblems.WriteAsync(context.Response, EdgeProblems.Details(status, code, title));
        return true;
    }

    private static (int Status, string Code, string Title) Classify(Exception exception) => exception switch
    {
        BadHttpRequestException bad when bad.StatusCode == StatusCodes.Status413PayloadTooLarge =>
            (bad.StatusCode, "body_too_large", "The request body is too large."),
        BadHttpRequestException bad => (bad.StatusCode, "bad_request", "The request is not valid."),
        InconsistentStateException => (StatusCodes.Status409Conflict, "concurrent_modification",
            "The record changed concurrently; read it again and retry."),
        StorageUnavailableException or DbException or TimeoutException or SiloUnavailableException or OrleansMessageRejectionException
            or GatewayTooBusyException or Orleans.Runtime.Messaging.ConnectionFailedException or OperationCanceledException =>
            (StatusCodes.Status503ServiceUnavailable, "unavailable", "The consent store is unavailable; retry shortly."),
        OrleansException { InnerException: { } inner } => Classify(inner),
        AggregateException { InnerException: { } inner } => Classify(inner),
        _ => (StatusCodes.Status500InternalServerError, "internal_error", "An unexpected error occurred."),
    };

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Endpoint} failed")]
    private partial void LogFailure(Exception exception, string method, string? endpoint);
}
