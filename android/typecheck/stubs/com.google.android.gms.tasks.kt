@file:Suppress("unused", "UNUSED_PARAMETER")
package com.google.android.gms.tasks
open class Task<T>
open class CancellationToken
class CancellationTokenSource { val token: CancellationToken = CancellationToken(); fun cancel() {} }
