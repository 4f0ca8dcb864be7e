package id.go.siap.app.platform

import android.graphics.ImageFormat
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import id.go.siap.core.CameraImage
import id.go.siap.core.PixelFormat
import java.util.concurrent.atomic.AtomicReference
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.withTimeoutOrNull

/**
 * A CameraX analyzer that hands the next frame to whoever asked for one, as a raw I420
 * [CameraImage.Raw] with CameraX's rotation. Frames are only repacked (row strides dropped), never
 * re-encoded, and only when asked: idle frames are closed straight away.
 */
class FrameGrabber : ImageAnalysis.Analyzer {
    private val waiting = AtomicReference<CompletableDeferred<CameraImage.Raw>?>(null)

    /** The next camera frame (call while the camera is bound). */
    suspend fun next(timeoutMs: Long = 3_000): CameraImage.Raw {
        val request = CompletableDeferred<CameraImage.Raw>()
        waiting.set(request)
        // Not withTimeout: its TimeoutCancellationException would read as a cancellation to the caller.
        return withTimeoutOrNull(timeoutMs) { request.await() }
            ?: throw IllegalStateException("no camera frame within $timeoutMs ms")
    }

    override fun analyze(image: ImageProxy) {
        try {
            val request = waiting.getAndSet(null) ?: return
            try {
                request.complete(image.toI420())
            } catch (e: Exception) {
                request.completeExceptionally(e)
            }
        } finally {
            image.close()
        }
    }
}

/** YUV_420_888 (any row/pixel stride) to tightly packed I420: Y, then U, then V, chroma rounded up. */
fun ImageProxy.toI420(): CameraImage.Raw {
    require(format == ImageFormat.YUV_420_888) { "unexpected image format $format" }
    val cw = (width + 1) / 2
    val ch = (height + 1) / 2
    val out = ByteArray(width * height + 2 * cw * ch)
    var pos = copyPlane(planes[0], width, height, out, 0)
    pos = copyPlane(planes[1], cw, ch, out, pos)
    copyPlane(planes[2], cw, ch, out, pos)
    return CameraImage.Raw(
        format = PixelFormat.I420,
        width = width.toUInt(),
        height = height.toUInt(),
        rotationDegrees = imageInfo.rotationDegrees.toUInt(),
        data = out,
    )
}

private fun copyPlane(plane: ImageProxy.PlaneProxy, w: Int, h: Int, out: ByteArray, start: Int): Int {
    val buf = plane.buffer.duplicate()
    val rowStride = plane.rowStride
    val pixelStride = plane.pixelStride
    var o = start
    for (row in 0 until h) {
        val base = row * rowStride
        if (pixelStride == 1) {
            buf.position(base)
            buf.get(out, o, w)
            o += w
        } else {
            for (col in 0 until w) out[o++] = buf.get(base + col * pixelStride)
        }
    }
    return o
}
